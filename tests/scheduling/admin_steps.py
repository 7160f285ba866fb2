"""Steps shared by the schedule-admin tests: a fresh department and doctor of the test's own,
with hours every day, so no demo appointment is in the way."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from careslot.config import Settings
from tests.api.helpers import query
from tests.conftest import LiveServer, _admin, serve_in_thread, with_database

EVERY_DAY_9_TO_12 = [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(1, 8)]
_names = itertools.count()


@dataclass
class Clinic:
    department_id: int
    doctor_id: int


def admin(live: LiveServer) -> httpx.Client:
    return live.client(live.login("admin@demo.careslot"))


def staff(live: LiveServer) -> httpx.Client:
    return live.client(live.login("staff@demo.careslot"))


def clinic(
    live: LiveServer, *, hours: list[dict[str, Any]] | None = None, slot_minutes: int = 30
) -> Clinic:
    """A new department with one doctor working `hours` (default 09:00-12:00 every day)."""
    n = next(_names)
    with admin(live) as c:
        r = c.post("/api/departments", json={"name": f"Clinic {n} {id(live)}"})
        assert r.status_code == 201, r.text
        department_id = r.json()["id"]
        r = c.post(
            "/api/doctors",
            json={
                "name": f"Dr. Test {n}",
                "departmentId": department_id,
                "slotMinutes": slot_minutes,
            },
        )
        assert r.status_code == 201, r.text
        doctor_id = r.json()["id"]
        r = c.put(
            f"/api/doctors/{doctor_id}/working-hours",
            json={"items": EVERY_DAY_9_TO_12 if hours is None else hours},
        )
        assert r.status_code == 200, r.text
    return Clinic(department_id, doctor_id)


def day_after_tomorrow(live: LiveServer) -> dt.date:
    return live.clock.now().astimezone(live.settings.zone).date() + dt.timedelta(days=2)


def at(live: LiveServer, day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=live.settings.zone)


def slots(
    client: httpx.Client, *, day: dt.date, type_id: int | None = None, **owner: int
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"date": day.isoformat(), **owner}
    if type_id is not None:
        params["typeId"] = type_id
    r = client.get("/api/slots", params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["slots"]
    return found


def starts(found: list[dict[str, Any]]) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(s["start"]) for s in found]


def table_counts(live: LiveServer) -> dict[str, int]:
    """Row counts of everything an admin write may touch (to prove nothing was written)."""
    tables = (
        "departments",
        "doctors",
        "working_hours",
        "time_off",
        "closures",
        "appointment_types",
        "appointments",
        "activity",
    )
    counts = {t: query(live, f"select count(*) from {t}")[0][0] for t in tables}
    counts["cancelled"] = query(
        live, "select count(*) from appointments where status = 'cancelled'"
    )[0][0]
    counts["hours"] = hash(
        tuple(query(live, "select doctor_id, weekday, start_time, end_time from working_hours"))
    )
    return counts


_servers = itertools.count()


@contextmanager
def fresh_server(admin_url: str, template_url: str, **settings: Any) -> Iterator[LiveServer]:
    """careslot with settings of the test's own (a zone, a change window) on a fresh
    database cloned from the template."""
    template = urlsplit(template_url).path.lstrip("/")
    name = f"careslot_s_{os.getpid()}_{next(_servers)}"
    asyncio.run(_admin(admin_url, f"create database {name} template {template}"))
    url = with_database(admin_url, name)
    try:
        yield from serve_in_thread(Settings(database_url=url, redis_url=None, **settings))
    finally:
        asyncio.run(_admin(admin_url, f"drop database if exists {name} with (force)"))
