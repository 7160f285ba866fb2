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


class CachedResponse(Response):
    """A stored answer as it is sent: its strategy's headers were encoded when the strategy
    was declared, so nothing is encoded per answer but its ETag and length. The same bytes on
    the wire as `Response(body, media_type="application/json", headers=...)`."""

    media_type = "application/json"

    def __init__(self, answer: Answer) -> None:
        entry = answer.entry
        self.status_code = 200
        self.background = None
        self.body = entry.body
        self.raw_headers = [
            *answer.strategy.raw_headers,
            (b"etag", entry.etag.encode()),
            (b"content-length", str(len(entry.body)).encode()),
            (b"content-type", b"application/json"),
        ]


def cached_response(request: Request, answer: Answer) -> Response:
    given = request.headers.get("if-none-match")
    if given is not None and _matches(given, answer.entry.etag):
        return Response(
            status_code=304, headers={**answer.strategy.headers, "ETag": answer.entry.etag}
        )
    return CachedResponse(answer)
