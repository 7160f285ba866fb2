"""Rows that can no longer matter are pruned, each kept exactly as long as it can matter, by
one worker at a time, in the background (issue 13, item 5). Time moves by the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from careslot.config import Settings
from careslot.db.pool import create_pool
from careslot.db.pruning import LOCK_KEY, prune_once
from tests.api.helpers import PASSWORD, demo_doctor_id, free_slots, scalar
from tests.conftest import LiveServer, serve_in_thread

TABLES = ("login_failures", "address_attempts", "sessions", "idempotency_keys")


def _settings(database_url: str, **extra: object) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=None,
        login_failures_per_address=100,
        registrations_per_address=20,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def pruned_live(database_url: str) -> Iterator[LiveServer]:
    yield from serve_in_thread(_settings(database_url, prune_seconds=0))  # passes by hand


def _counts(live: LiveServer) -> dict[str, int]:
    return {t: scalar(live, f"select count(*) from {t}") for t in TABLES}


def _prune(live: LiveServer, *, hold_lock: bool = False) -> dict[str, int] | None:
    url = live.settings.database_url
    assert url

    async def run() -> dict[str, int] | None:
        holder = await asyncpg.connect(url) if hold_lock else None
        pool = await create_pool(live.settings, url)
        try:
            if holder is not None:
                await holder.execute("select pg_advisory_lock($1)", LOCK_KEY)
            return await prune_once(pool, live.clock.now(), live.settings)
        finally:
            await pool.close()
            if holder is not None:
                await holder.close()

    return asyncio.run(run())


def _activity(live: LiveServer) -> str:
    """One row in each table: a failed sign-in, a registration (its session and address
    attempt) and a booking with an Idempotency-Key. Returns the new patient's token."""
    doctor_id = demo_doctor_id(live)
    with live.client() as c:
        r = c.post("/api/auth/login", json={"email": "nobody@x.test", "password": "wrong-pass"})
        assert r.status_code == 401
        r = c.post(
            "/api/auth/register",
            json={"email": "pruned@x.test", "password": PASSWORD, "name": "Pruned"},
        )
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
    start = free_slots(live, doctor_id, days_ahead=2)[0]["start"]
    with live.client(token) as c:
        r = c.post(
            "/api/appointments",
            json={"doctorId": doctor_id, "start": start},
            headers={"Idempotency-Key": "pruning-test"},
        )
    assert r.status_code == 201, r.text
    return token


def test_each_table_is_kept_as_long_as_it_matters(pruned_live: LiveServer) -> None:
    live = pruned_live
    token = _activity(live)
    assert _counts(live) == {
        "login_failures": 1,
        "address_attempts": 2,  # the failed sign-in and the registration
        "sessions": 1,
        "idempotency_keys": 1,
    }
    assert _prune(live) == dict.fromkeys(TABLES, 0)

    live.clock.move(timedelta(minutes=14))
    assert _prune(live) == dict.fromkeys(TABLES, 0)  # the sign-in window is still open
    live.clock.move(timedelta(minutes=1, seconds=1))
    assert _prune(live) == {**dict.fromkeys(TABLES, 0), "login_failures": 1, "address_attempts": 1}

    live.clock.move(timedelta(minutes=45))  # the registration is an hour old
    assert _prune(live) == {**dict.fromkeys(TABLES, 0), "address_attempts": 1}
    with live.client(token) as c:
        assert c.get("/api/users/profile").status_code == 200  # the session still lives

    live.clock.move(timedelta(hours=11))  # 12 h and a bit: the session has expired
    with live.client(token) as c:
        assert c.get("/api/users/profile").status_code == 401
    assert _prune(live) == {**dict.fromkeys(TABLES, 0), "sessions": 1}

    live.clock.move(timedelta(hours=11, minutes=58))
    assert _prune(live) == dict.fromkeys(TABLES, 0)  # the key is kept for 24 h
    live.clock.move(timedelta(minutes=2))
    assert _prune(live) == {**dict.fromkeys(TABLES, 0), "idempotency_keys": 1}
    assert _counts(live) == dict.fromkeys(TABLES, 0)
    assert (
        scalar(
            live,
            "select count(*) from appointments where client_id = "
            "(select id from users where email = 'pruned@x.test')",
        )
        == 1
    )


def test_one_pruner_at_a_time(pruned_live: LiveServer) -> None:
    live = pruned_live
    _activity(live)
    live.clock.move(timedelta(days=2))
    assert _prune(live, hold_lock=True) is None  # another worker is pruning: skip
    assert _counts(live)["sessions"] == 1
    assert _prune(live) is not None
    assert _counts(live) == dict.fromkeys(TABLES, 0)


def test_pruning_runs_in_the_background(database_url: str) -> None:
    for live in serve_in_thread(_settings(database_url, prune_seconds=0.1)):
        _activity(live)
        live.clock.move(timedelta(days=2))
        deadline = time.monotonic() + 60
        while any(_counts(live).values()):
            assert time.monotonic() < deadline, _counts(live)
            time.sleep(0.1)


def test_cutoffs_use_the_settings() -> None:
    from careslot.db.pruning import Cutoffs

    now = datetime(2030, 1, 1, 12, 0).astimezone()
    cut = Cutoffs.at(now, Settings(login_failure_window_minutes=30, idempotency_keep_hours=2))
    assert now - cut.login_failures == timedelta(minutes=30)
    assert now - cut.idempotency_keys == timedelta(hours=2)
    assert cut.sessions == now
