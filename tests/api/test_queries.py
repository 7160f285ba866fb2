"""api/queries.py: a hot read's query string is parsed once, and refused every time."""

from __future__ import annotations

import pytest
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from careslot.api.catalog import SlotQuery
from careslot.api.queries import query_of


def request_for(query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "query_string": query, "headers": []})


def test_one_query_string_is_parsed_once_and_shared_frozen() -> None:
    raw = b"doctorId=3&date=2026-03-03"
    first, again = query_of(SlotQuery, request_for(raw)), query_of(SlotQuery, request_for(raw))
    assert first is again  # the second request reused the first one's parse
    assert (first.doctorId, str(first.date)) == (3, "2026-03-03")
    other = query_of(SlotQuery, request_for(b"doctorId=4&date=2026-03-03"))
    assert other.doctorId == 4
    with pytest.raises(ValidationError):
        first.doctorId = 4  # shared between requests, so nobody may change it


def test_a_refused_query_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(RequestValidationError) as refused:
            query_of(SlotQuery, request_for(b"doctorId=0&date=2026-03-03"))
        assert refused.value.errors()[0]["loc"] == ("query", "doctorId")
