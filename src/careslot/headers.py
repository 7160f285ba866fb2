"""HTTP cache headers for answers about a person, shared by the API and the cache strategies,
and the ETag of a body with the If-None-Match comparison it is checked by, for every answer.

Per-user answers: a shared cache (CDN, proxy) must never keep them; the browser may keep them
only to revalidate by ETag. Vary on the credentials so one browser's cache never hands user
A's copy to user B. Sensitive answers (appointments, calendars) are not kept at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PRIVATE = {"Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
SENSITIVE = {"Cache-Control": "private, no-store", "Vary": "Authorization, Cookie"}


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """A header's value from ASGI's raw list (`name` in lower case)."""
    for key, value in headers:
        if key.lower() == name:
            return bytes(value)
    return None


def body_etag(body: bytes) -> bytes:
    """The strong ETag of an answer's body, with its quotes: '"' + 32 hex digits + '"'."""
    return b'"%s"' % hashlib.blake2b(body, digest_size=16).hexdigest().encode()


def _opaque(tag: bytes) -> bytes:
    tag = tag.strip()
    return tag[2:] if tag[:2] == b"W/" else tag


def none_match(if_none_match: bytes, etag: bytes) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/"x" matches "x"."""
    if if_none_match.strip() == b"*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(candidate) == wanted for candidate in if_none_match.split(b","))
