"""Sessions served from the cache are still dead everywhere the moment sign-out returns."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from careslot.seeding.demo import PASSWORD
from tests.cache.test_workers import _read_everywhere, serve_workers
from tests.conftest import LiveServer


@pytest.fixture
def two_workers(database_url: str) -> Iterator[str]:
    yield from serve_workers(database_url, None)


def test_sign_out_kills_a_cached_session_in_every_worker(two_workers: str) -> None:
    with httpx.Client(base_url=two_workers, timeout=30) as c:
        r = c.post("/api/auth/login", json={"email": "patient@demo.careslot", "password": PASSWORD})
        token = r.json()["token"]
    # Warm the session into both workers' layer 1.
    before = asyncio.run(_read_everywhere(two_workers, "/api/users/profile", token, {}))
    assert {r.status_code for r in before} == {200}
    with httpx.Client(
        base_url=two_workers, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        assert c.post("/api/auth/logout").status_code == 204
    after = asyncio.run(_read_everywhere(two_workers, "/api/users/profile", token, {}))
    assert {r.status_code for r in after} == {401}


def test_a_known_session_costs_no_query(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        first = c.get("/api/users/profile")
        second = c.get("/api/users/profile")
    assert first.status_code == second.status_code == 200
    # The profile itself reads one row (the reminder choice); the session costs the rest.
    assert _queries(first) > 1
    assert _queries(second) == 1
    assert "l1 hit sessions" in second.headers["server-timing"]


def _queries(answer: httpx.Response) -> int:
    found = re.search(r'desc="(\d+) queries"', answer.headers["server-timing"])
    assert found is not None, answer.headers["server-timing"]
    return int(found.group(1))
