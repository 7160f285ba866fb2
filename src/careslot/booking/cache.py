"""Booking's cached reads: appointment lists and the month calendar.

access.py decides the scope (filter, key identity, owner tags, audit subject) before any
look-up, so a cached answer is only ever served to a caller of the same identity; every
read, hit or miss, is audited once here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from careslot import access, jsonutil
from careslot.accounts.models import User
from careslot.booking import service as booking
from careslot.cache import keys
from careslot.cache import strategies as s
from careslot.cache.core import Answer

if TYPE_CHECKING:
    from careslot.context import Context


@dataclass(frozen=True, slots=True)
class _ListQuery:
    """What decides an appointment list besides who asks (its scope): hashed into its key."""

    status: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    limit: int
    cursor: str | None
    doctor_id: int | None
    client_id: int | None


async def appointments(
    ctx: Context,
    *,
    actor: User,
    status: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int,
    cursor: str | None,
    doctor_id: int | None,
    client_id: int | None,
) -> Answer:
    scope = access.appointments(actor, client_id=client_id, doctor_id=doctor_id)

    async def load() -> bytes:
        found = await booking.page(
            ctx, scope=scope, status=status, start=start, end=end, limit=limit, cursor=cursor
        )
        return jsonutil.dumps(found)

    query = _ListQuery(status, start, end, limit, cursor, scope.doctor_id, scope.client_id)
    key = keys.key(s.APPOINTMENTS.name, scope.identity, keys.query_hash(query))
    answer = await ctx.cache.answer(s.APPOINTMENTS, key, scope.owners, load)
    ctx.audit.read(actor_id=actor.id, subject_id=scope.subject, entity="appointment_list")
    return answer


async def calendar(
    ctx: Context, *, actor: User, year: int, month: int, doctor_id: int | None
) -> Answer:
    scope = access.calendar(actor, doctor_id=doctor_id)

    async def load() -> bytes:
        return jsonutil.dumps(await booking.calendar(ctx, scope=scope, year=year, month=month))

    key = keys.key(
        s.CALENDAR.name, scope.identity, f"{year:04d}-{month:02d}", scope.doctor_id or "-"
    )
    answer = await ctx.cache.answer(s.CALENDAR, key, scope.owners, load)
    ctx.audit.read(actor_id=actor.id, subject_id=scope.subject, entity="calendar")
    return answer
