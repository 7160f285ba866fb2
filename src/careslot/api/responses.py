"""Responses as ready-made bytes, and problem+json for every error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from careslot import headers, jsonutil
from careslot.errors import CareslotError

PRIVATE, SENSITIVE = headers.PRIVATE, headers.SENSITIVE  # re-exported for the routes


def json_bytes(
    body: bytes,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return json_bytes(jsonutil.dumps(value), status, headers)


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> bytes:
    return jsonutil.dumps(
        {
            "type": f"/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            **extra,
        }
    )


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    return Response(
        problem_body(status, code, title, detail, **extra),
        status_code=status,
        media_type="application/problem+json",
        headers=SENSITIVE,
    )


def problem_for(error: CareslotError) -> Response:
    return problem(error.status, error.code, error.title, error.detail, **error.extra)
