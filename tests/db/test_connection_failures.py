"""Connection-level database failures under concurrent requests (issue 13, item 1).

While clients check their session, list appointments and book, PostgreSQL is restarted
(`-m fast`), crashed (`-m immediate`) and has careslot's backends terminated. Every answer
must be a success, a domain 4xx or 503 problem+json with Retry-After (never a 500), no
booking answered 201 may be lost, and once PostgreSQL is back every request succeeds again:
a broken connection is dropped, not handed to the next request.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from typing import Any

import httpx

from tests.api.helpers import PROBLEM, free_slots, query, register
from tests.conftest import LiveServer
from tests.db.conftest import pg_ctl, pg_start, terminate_careslot_backends

CLIENTS = 6


class Load:
    """CLIENTS threads, each a patient checking its profile, listing and booking."""

    def __init__(self, live: LiveServer, slots: list[tuple[int, str]]) -> None:
        self.live = live
        self.statuses: Counter[int] = Counter()
        self.bad: list[str] = []
        self.booked: list[int] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.slots = iter(slots)
        self.tokens = [register(live)[1] for _ in range(CLIENTS)]
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in self.tokens]

    def _note(self, r: httpx.Response) -> None:
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code >= 500 and (
                r.status_code != 503
                or not r.headers.get("content-type", "").startswith(PROBLEM)
                or not r.headers.get("retry-after")
            ):
                self.bad.append(
                    f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
                )
            if r.status_code == 201:
                self.booked.append(r.json()["id"])

    def _next_slot(self) -> tuple[int, str] | None:
        with self.lock:
            return next(self.slots, None)

    def _run(self, token: str) -> None:
        with self.live.client(token) as c:
            for step in itertools.count():
                if self.stop.is_set():
                    return
                try:
                    if step % 3 == 0:
                        self._note(c.get("/api/users/profile"))
                    elif step % 3 == 1:
                        self._note(c.get("/api/appointments", params={"limit": 5}))
                    elif (slot := self._next_slot()) is not None:
                        doctor_id, start = slot
                        self._note(
                            c.post(
                                "/api/appointments", json={"doctorId": doctor_id, "start": start}
                            )
                        )
                except httpx.TransportError as e:  # a dropped HTTP connection is a failure too
                    with self.lock:
                        self.bad.append(repr(e))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _wait_until_served(live: LiveServer, token: str) -> None:
    deadline = time.monotonic() + 60
    with live.client(token) as c:
        while c.get("/api/users/profile").status_code != 200:
            assert time.monotonic() < deadline, "careslot did not recover"
            time.sleep(0.05)


def test_restart_crash_and_terminate_under_load_are_503_never_500(
    live_on_own_postgres: LiveServer, own_postgres: Any
) -> None:
    live = live_on_own_postgres
    url = own_postgres.get_uri("postgres")
    doctors = [r["id"] for r in query(live, "select id from doctors order by id limit 4")]
    slots = [(d, s["start"]) for d in doctors for s in free_slots(live, d, span=7)]
    with Load(live, slots) as load:
        probe = load.tokens[0]
        for _ in range(2):
            time.sleep(0.3)
            pg_ctl(own_postgres, "restart", "-m", "fast", "-o", f"-h '' -k {own_postgres.pgdata}")
            _wait_until_served(live, probe)
            time.sleep(0.3)
            asyncio.run(terminate_careslot_backends(url))
            _wait_until_served(live, probe)
            time.sleep(0.3)
            pg_ctl(own_postgres, "stop", "-m", "immediate")
            pg_start(own_postgres)
            _wait_until_served(live, probe)
    assert not load.bad, load.bad[:5]
    assert load.statuses[201] > 0, load.statuses

    # Back to normal: a run of requests on every pooled connection all succeed.
    with live.client(load.tokens[0]) as c:
        after = Counter(
            c.get("/api/appointments", params={"limit": 5}).status_code for _ in range(40)
        )
    assert after == Counter({200: 40}), after

    # No booking answered 201 was lost.
    kept = {
        r["id"]
        for r in query(
            live, "select id from appointments where id = any($1::bigint[])", load.booked
        )
    }
    assert kept == set(load.booked)
