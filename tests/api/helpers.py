"""Shared steps for the HTTP tests: register patients, find free slots, look in the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import asyncpg
import httpx

from tests.conftest import LiveServer

_emails = itertools.count()
PASSWORD = "a-long-enough-password"  # noqa: S105 (test accounts)
PROBLEM = "application/problem+json"

# What each per-user answer promises (SPEC 5: `private`, and `no-store` where sensitive):
# appointments and calendars are no-store, figures and the profile are kept only to revalidate.
SENSITIVE = "private, no-store"
REVALIDATE = "private, no-cache"
CACHE_CONTROL = {
    "/api/appointments": SENSITIVE,
    "/api/appointments/{id}": SENSITIVE,
    "/api/calendar": SENSITIVE,
    "/api/appointments/stream": SENSITIVE,
    "/api/dashboard/stats": REVALIDATE,
    "/api/activity": REVALIDATE,
    "/api/users/profile": REVALIDATE,
}


def register(live: LiveServer, name: str = "Test Patient") -> tuple[int, str]:
    """A new patient: (user id, bearer token)."""
    email = f"p{next(_emails)}-{id(live)}@test.careslot"
    with live.client() as c:
        r = c.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["user"]["id"], body["token"]


def free_slots(
    live: LiveServer, doctor_id: int, days_ahead: int = 1, span: int = 14
) -> list[dict[str, Any]]:
    first = dt.datetime.now(live.settings.zone).date() + dt.timedelta(days=days_ahead)
    last = first + dt.timedelta(days=span - 1)
    with live.client() as c:
        r = c.get(
            "/api/slots",
            params={"doctorId": doctor_id, "from": first.isoformat(), "to": last.isoformat()},
        )
    assert r.status_code == 200, r.text
    slots: list[dict[str, Any]] = r.json()["slots"]
    assert slots, "the demo doctor should have free slots in the next two weeks"
    return slots


def book(client: httpx.Client, doctor_id: int, start: str, **extra: Any) -> httpx.Response:
    return client.post("/api/appointments", json={"doctorId": doctor_id, "start": start, **extra})


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert isinstance(body["code"], str)
    assert body["code"]
    if code is not None:
        assert body["code"] == code, body
    return body


def instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def _query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def query(live: LiveServer, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run SQL on the test's own database (outside the server)."""
    assert live.settings.database_url
    return asyncio.run(_query(live.settings.database_url, sql, *args))


def scalar(live: LiveServer, sql: str, *args: Any) -> Any:
    rows = query(live, sql, *args)
    return rows[0][0] if rows else None


def appointments_snapshot(live: LiveServer) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in query(
            live,
            "select id, client_id, doctor_id, starts_at, ends_at, status, reason, updated_at "
            "from appointments order by id",
        )
    ]


def user_id(live: LiveServer, email: str) -> int:
    found: int = scalar(live, "select id from users where email = $1", email)
    return found


def demo_doctor_id(live: LiveServer, name: str = "Dr. Amara Okafor") -> int:
    found: int = scalar(live, "select id from doctors where name = $1", name)
    return found
