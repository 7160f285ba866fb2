"""Responses as ready-made bytes, and problem+json for every error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from careslot import jsonutil

PRIVATE = {"Cache-Control": "private, no-cache"}
SENSITIVE = {"Cache-Control": "private, no-store"}


def json_bytes(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None,
               ) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return json_bytes(jsonutil.dumps(value), status, headers)


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail,
            "code": code, **extra}
    return Response(jsonutil.dumps(body), status_code=status,
                    media_type="application/problem+json", headers=SENSITIVE)
