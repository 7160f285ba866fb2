"""The pages' reads: the API's cached reads (same services, same keys, same invalidation on
every write), decoded for templates. A page therefore costs no database round trip when
the API's answer is cached, and is exactly as fresh as the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from careslot import jsonutil
from careslot.accounts.models import User
from careslot.cache import reads
from careslot.context import Context

INSTANTS = ("start", "end", "updatedAt", "createdAt", "at", "date", "nextAppointmentDate")


def _instants(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for name in INSTANTS:
            value = row.get(name)
            if isinstance(value, str):
                row[name] = dt.datetime.fromisoformat(value)
    return rows


def _decode(answer: reads.Answer) -> Any:
    return jsonutil.loads(answer.entry.body)


async def departments(ctx: Context) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _decode(await reads.departments(ctx))
    return found


async def doctors(ctx: Context, *, department_id: int | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _decode(await reads.doctors(ctx, department_id=department_id))
    return found


async def slots(
    ctx: Context,
    *,
    doctor_id: int,
    first: dt.date,
    last: dt.date,
    type_id: int | None = None,
) -> list[dict[str, Any]]:
    answer = await reads.slots(
        ctx, doctor_id=doctor_id, department_id=None, first=first, last=last, type_id=type_id
    )
    return _instants(_decode(answer)["slots"])


async def dashboard_stats(ctx: Context, *, actor: User) -> dict[str, Any]:
    data: dict[str, Any] = _decode(await reads.dashboard_stats(ctx, actor=actor, client_id=None))[
        "data"
    ]
    _instants([data, *(data.get("recentAppointments") or [])])
    return data


async def activity(ctx: Context, *, actor: User, limit: int) -> list[dict[str, Any]]:
    return _instants(_decode(await reads.activity(ctx, actor=actor, limit=limit))["items"])


async def appointments(
    ctx: Context,
    *,
    actor: User,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 200,
    doctor_id: int | None = None,
) -> list[dict[str, Any]]:
    answer = await reads.appointments(
        ctx,
        actor=actor,
        status=None,
        start=start,
        end=end,
        limit=limit,
        cursor=None,
        doctor_id=doctor_id,
        client_id=None,
    )
    return _instants(_decode(answer)["items"])


async def doctor_schedule(
    ctx: Context, *, actor: User, doctor_id: int, first: dt.date, last: dt.date
) -> dict[str, Any]:
    """The caller must be staff or this doctor (the page checks, as the API route does)."""
    view: dict[str, Any] = _decode(
        await reads.doctor_schedule(ctx, actor=actor, doctor_id=doctor_id, first=first, last=last)
    )
    _instants(view["appointments"])
    _instants(view["timeOff"])
    return view


async def calendar(
    ctx: Context, *, actor: User, year: int, month: int, doctor_id: int | None
) -> dict[str, Any]:
    result: dict[str, Any] = _decode(
        await reads.calendar(ctx, actor=actor, year=year, month=month, doctor_id=doctor_id)
    )
    _instants(result["items"])
    return result
