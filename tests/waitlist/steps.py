"""Shared steps: a day with a booked slot, a patient waiting for it, the offer."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from careslot.audit.log import AuditLog
from careslot.clock import Clock
from careslot.config import Settings
from careslot.context import Context
from careslot.db.pool import create_pool
from careslot.monitoring.metrics import untrack_pool
from careslot.waitlist import sweeper
from tests.api.helpers import book, demo_doctor_id, free_slots, query, register, scalar

__all__ = ["demo_doctor_id", "scalar"]
from tests.conftest import LiveServer
from tests.messages.conftest import eventually


@dataclass
class Freed:
    doctor_id: int
    start: str  # the slot that was booked, then cancelled
    day: dt.date
    appointment_id: int
    holder_token: str  # the patient who booked and cancelled it


def booked_slot(live: LiveServer, days_ahead: int = 3) -> Freed:
    """A patient's booking of the first free slot `days_ahead` days out (not yet cancelled)."""
    doctor = demo_doctor_id(live)
    slot = free_slots(live, doctor, days_ahead=days_ahead, span=7)[0]
    _, token = register(live, "First Patient")
    with live.client(token) as c:
        r = book(c, doctor, slot["start"])
    assert r.status_code == 201, r.text
    day = dt.datetime.fromisoformat(slot["start"]).astimezone(live.settings.zone).date()
    return Freed(doctor, slot["start"], day, r.json()["id"], token)


def join(live: LiveServer, token: str, freed: Freed, **extra: Any) -> dict[str, Any]:
    body = {"doctorId": freed.doctor_id, "from": freed.day.isoformat(), "to": freed.day.isoformat()}
    with live.client(token) as c:
        r = c.post("/api/waitlist", json={**body, **extra})
    assert r.status_code == 201, r.text
    entry: dict[str, Any] = r.json()
    assert entry["status"] == "waiting"
    return entry


def cancel(live: LiveServer, freed: Freed) -> httpx.Response:
    with live.client(freed.holder_token) as c:
        r = c.patch(f"/api/appointments/{freed.appointment_id}", json={"status": "cancelled"})
    assert r.status_code == 200, r.text
    return r


def entry(live: LiveServer, token: str, entry_id: int) -> dict[str, Any]:
    with live.client(token) as c:
        r = c.get("/api/waitlist")
    assert r.status_code == 200, r.text
    (found,) = [e for e in r.json()["items"] if e["id"] == entry_id]
    return dict(found)


def offered(live: LiveServer, token: str, entry_id: int, timeout: float = 20) -> dict[str, Any]:
    """The entry once its offer is made (by the sweeper, after the freeing commit)."""
    found: dict[str, Any] = eventually(
        lambda: (e := entry(live, token, entry_id))["status"] == "offered" and e, timeout
    )
    return found


def slot_starts(live: LiveServer, doctor_id: int, day: dt.date) -> list[str]:
    with live.client() as c:
        r = c.get("/api/slots", params={"doctorId": doctor_id, "date": day.isoformat()})
    assert r.status_code == 200, r.text
    return [s["start"] for s in r.json()["slots"]]


def counter(live: LiveServer, outcome: str) -> float:
    """careslot_waitlist_offers_total for `outcome` (the registry is per process: tests
    compare before and after)."""
    with live.client() as c:
        text = c.get("/metrics").text
    line = f'careslot_waitlist_offers_total{{outcome="{outcome}"}} '
    found = [float(x[len(line) :]) for x in text.splitlines() if x.startswith(line)]
    return found[0] if found else 0.0


@asynccontextmanager
async def context(settings: Settings, clock: Clock) -> AsyncIterator[Context]:
    """A service context of the test's own (its own pool), as another worker would have:
    for driving sweeps by hand. It announces to no cache: use servers with cache off."""
    assert settings.database_url
    pool = await create_pool(settings, settings.database_url)
    try:
        yield Context(settings=settings, pool=pool, audit=AuditLog(pool, clock=clock), clock=clock)
    finally:
        untrack_pool(pool)
        await pool.close()


def sweep(live: LiveServer) -> int:
    """One worker's sweep, by hand, on the server's clock: the offers it made."""

    async def run() -> int:
        async with context(live.settings, live.clock) as ctx:
            return await sweeper.sweep(ctx)

    return asyncio.run(run())


def holds(live: LiveServer) -> list[Any]:
    return query(
        live,
        "select id, client_id, doctor_id, starts_at, waitlist_entry_id from appointments "
        "where status = 'held' order by id",
    )
