"""Redis killed, restarted, or hung: every answer is still 200 and correct (fail open), and
Redis is used again once it is back."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

import pytest

from careslot.config import Settings
from careslot.monitoring.metrics import REGISTRY
from tests.api.helpers import book, demo_doctor_id, free_slots, register
from tests.cache.conftest import OwnRedis
from tests.conftest import LiveServer, serve_in_thread

pytestmark = pytest.mark.redis


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[LiveServer]:
    servers = serve_in_thread(settings)
    try:
        yield next(servers)
    finally:
        next(servers, None)


def upcoming(live: LiveServer, token: str) -> int:
    with live.client(token) as c:
        r = c.get("/api/dashboard/stats")
    assert r.status_code == 200, r.text
    count: int = r.json()["data"]["upcomingCount"]
    return count


def test_redis_killed_mid_run_and_restarted(own_redis: OwnRedis, database_url: str) -> None:
    with serving(
        Settings(
            database_url=database_url, redis_url=own_redis.url, cache_redis_cooldown_seconds=0.2
        )
    ) as live:
        _, token = register(live)
        doctor = demo_doctor_id(live)
        slots = free_slots(live, doctor)
        assert [upcoming(live, token) for _ in range(2)] == [0, 0]
        assert own_redis.client().dbsize() > 0  # layer 2 holds answers

        errors = counter("careslot_cache_redis_errors_total")
        own_redis.kill()
        with live.client(token) as c:
            assert book(c, doctor, slots[0]["start"]).status_code == 201
        assert [upcoming(live, token) for _ in range(5)] == [1] * 5
        with live.client() as c:
            today = dt.datetime.now(live.settings.zone).date()
            for day in range(1, 4):
                date = (today + dt.timedelta(days=day)).isoformat()
                assert (
                    c.get("/api/slots", params={"doctorId": doctor, "date": date}).status_code
                    == 200
                )
        assert counter("careslot_cache_redis_errors_total") > errors

        own_redis.start()  # empty, on the same port
        used_again = False
        for attempt in range(20):
            time.sleep(0.25)  # past the breaker's cooldown
            with live.client(token) as c:
                assert book(c, doctor, slots[1 + attempt]["start"]).status_code == 201
            assert upcoming(live, token) == 2 + attempt  # a miss: stored in Redis again
            if own_redis.client().dbsize() > 0:
                used_again = True
                break
        assert used_again, "careslot never went back to Redis after it returned"


def test_redis_hung_costs_an_open_circuit_not_errors(
    own_redis: OwnRedis, database_url: str
) -> None:
    settings = Settings(database_url=database_url, redis_url=own_redis.url)
    with serving(settings) as live:
        _, token = register(live)
        doctor = demo_doctor_id(live)
        slot = free_slots(live, doctor)[0]
        assert [upcoming(live, token) for _ in range(2)] == [0, 0]  # in Redis now

        opened = counter("careslot_cache_redis_circuit_opens_total")
        own_redis.freeze()
        try:
            with live.client(token) as c:
                assert book(c, doctor, slot["start"]).status_code == 201
            assert [upcoming(live, token) for _ in range(5)] == [1] * 5
            with live.client() as c:
                assert c.get("/api/departments").status_code == 200
                # Reads that miss layer 1 each wait for Redis once: timeouts in a row (three)
                # open the circuit; a single slow reply would not (test_redis_layer.py).
                today = dt.datetime.now(live.settings.zone).date()
                for day in range(20, 24):
                    date = (today + dt.timedelta(days=day)).isoformat()
                    r = c.get("/api/slots", params={"doctorId": doctor, "date": date})
                    assert r.status_code == 200
            assert counter("careslot_cache_redis_circuit_opens_total") > opened
        finally:
            own_redis.thaw()

    # Redis kept the answer from before the booking; the write could not delete it. A new
    # worker reading through Redis must still see the booking.
    with serving(settings) as fresh:
        assert upcoming(fresh, token) == 1
