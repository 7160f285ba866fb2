"""A cached answer's response, whose headers are encoded once per strategy, sends exactly
what Starlette's own Response would have sent for it."""

from __future__ import annotations

import pytest
from starlette.responses import Response

from careslot.cache import strategies as s
from careslot.cache.core import Answer
from careslot.cache.entry import Entry
from careslot.cache.http import CachedResponse


@pytest.mark.parametrize("strategy", s.ALL, ids=lambda x: x.name)
def test_the_same_status_headers_and_body_as_a_plain_response(strategy: s.Strategy) -> None:
    entry = Entry.of(b'{"slots":["2026-12-08T09:00:00+00:00"]}')
    plain = Response(
        entry.body,
        media_type="application/json",
        headers={**strategy.headers, "ETag": entry.etag.decode()},
    )
    cached = CachedResponse(Answer(entry, strategy))
    assert (cached.status_code, cached.raw_headers, cached.body) == (
        plain.status_code,
        plain.raw_headers,
        plain.body,
    )
    assert cached.background is None


@pytest.mark.parametrize("strategy", s.ALL, ids=lambda x: x.name)
def test_a_304_is_what_a_plain_304_response_would_be(strategy: s.Strategy) -> None:
    entry = Entry.of(b"[]")
    plain = Response(status_code=304, headers={**strategy.headers, "ETag": entry.etag.decode()})
    cached = CachedResponse(Answer(entry, strategy), not_modified=True)
    assert (cached.status_code, cached.raw_headers, cached.body) == (
        plain.status_code,
        plain.raw_headers,
        plain.body,
    )


def test_each_answer_gets_its_own_header_list() -> None:
    """Middleware may add to an answer's headers: that must not reach the next answer."""
    answer = Answer(Entry.of(b"[]"), s.AVAILABLE_SLOTS)
    first = CachedResponse(answer)
    first.raw_headers.append((b"x-added", b"1"))
    assert (b"x-added", b"1") not in CachedResponse(answer).raw_headers
