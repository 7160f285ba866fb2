"""A cached answer as an HTTP response: stored bytes, strong ETag, the strategy's headers,
and 304 when the client already holds this version."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from careslot.cache.core import Answer
from careslot.headers import header, none_match


class CachedResponse(Response):
    """A stored answer as it is sent, in full or as a 304: its strategy's headers were encoded
    when the strategy was declared, so nothing is encoded per answer but its ETag and length.
    The same bytes on the wire as Starlette's `Response` with those headers."""

    def __init__(self, answer: Answer, *, not_modified: bool = False) -> None:
        entry = answer.entry
        self.background = None
        self.raw_headers = [*answer.strategy.raw_headers, (b"etag", entry.etag)]
        if not_modified:
            self.status_code, self.body = 304, b""
            return
        self.status_code, self.body = 200, entry.body
        self.raw_headers += [
            (b"content-length", str(len(entry.body)).encode()),
            (b"content-type", b"application/json"),
        ]


def cached_response(request: Request, answer: Answer) -> Response:
    """The answer, or a 304 when the client holds this version. It carries its ETag, so the
    monitoring middleware passes it through without holding or hashing it."""
    given = header(request.scope["headers"], b"if-none-match")
    fresh = given is not None and none_match(given, answer.entry.etag)
    return CachedResponse(answer, not_modified=fresh)
