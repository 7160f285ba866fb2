"""A cached answer as an HTTP response: stored bytes, strong ETag, the strategy's headers,
and 304 when the client already holds this version."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from careslot.cache.core import Answer


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def cached_response(request: Request, answer: Answer) -> Response:
    headers = {**answer.strategy.headers, "ETag": answer.entry.etag}
    given = request.headers.get("if-none-match")
    if given is not None and _matches(given, answer.entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.entry.body, media_type="application/json", headers=headers)
