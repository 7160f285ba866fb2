"""Scheduling's cached reads: departments, doctors, free slots and a doctor's schedule.

Each read names its key (strategy, owner, and what decides the answer), the owner tags whose
writes make it stale (cache/invalidation.py maps writes to the same tags) and its loader;
`cache/` only stores and invalidates. Slot lists and doctors' schedules are tagged per day, so
a booking drops only its own day's (and ranges), not every one of the doctor's.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import TYPE_CHECKING

import asyncpg

from careslot import access, clock, jsonutil
from careslot.accounts.models import User
from careslot.booking import service as booking
from careslot.cache import keys
from careslot.cache import strategies as s
from careslot.cache.core import Answer
from careslot.cache.entry import Entry
from careslot.errors import CareslotError
from careslot.scheduling import service as scheduling
from careslot.scheduling.schemas import DoctorSchedule

if TYPE_CHECKING:
    from careslot.context import Context

log = logging.getLogger("careslot.scheduling.cache")


async def departments(ctx: Context) -> Answer:
    async def load() -> bytes:
        return jsonutil.dumps(await scheduling.departments(ctx))

    key = keys.key(s.DEPARTMENTS.name, "public")
    return await ctx.cache.answer(s.DEPARTMENTS, key, (keys.DEPARTMENTS,), load)


async def doctors(ctx: Context, *, department_id: int | None) -> Answer:
    async def load() -> bytes:
        return jsonutil.dumps(await scheduling.doctors(ctx, department_id=department_id))

    key = keys.key(s.DOCTORS.name, "public", department_id or "all")
    return await ctx.cache.answer(s.DOCTORS, key, (keys.DOCTORS,), load)


async def slots(
    ctx: Context,
    *,
    doctor_id: int | None,
    department_id: int | None,
    first: dt.date,
    last: dt.date,
    type_id: int | None = None,
) -> Answer:
    async def load() -> bytes:
        found = await scheduling.slots(
            ctx,
            doctor_id=doctor_id,
            department_id=department_id,
            first=first,
            last=last,
            type_id=type_id,
        )
        return jsonutil.dumps(found)

    if doctor_id is not None:  # the service prefers the doctor when both are given
        owner = keys.doctor(doctor_id)
    elif department_id is not None:
        owner = keys.department(department_id)
    else:
        return Answer(Entry.of(await load()), s.AVAILABLE_SLOTS)  # the service refuses it
    key, tags = _slots_key(owner, first, last, type_id)
    return await ctx.cache.answer(s.AVAILABLE_SLOTS, key, tags, load)


@functools.lru_cache(maxsize=8192)
def _slots_key(
    owner: str, first: dt.date, last: dt.date, type_id: int | None
) -> tuple[str, tuple[str, ...]]:
    """A slot list's key and tags, built once per distinct list (slots is the hottest read)."""
    parts: tuple[str, ...] = (first.isoformat(), last.isoformat())
    tags: tuple[str, ...] = (*keys.day_views(owner, first, last), keys.ALL_SLOTS)
    if type_id is not None:  # typed lists also go when their type is edited
        parts += (f"type{type_id}",)
        tags += (keys.slots_of(keys.appointment_type(type_id)),)
    return keys.key(s.AVAILABLE_SLOTS.name, owner, *parts), tags


async def doctor_schedule(
    ctx: Context, *, actor: User, doctor_id: int, first: dt.date, last: dt.date
) -> Answer:
    scope = access.doctor_schedule(actor, doctor_id=doctor_id, first=first, last=last)

    async def load() -> bytes:
        hours, time_off = await scheduling.working_time(ctx, scope=scope, first=first, last=last)
        listing = await booking.page(
            ctx,
            scope=scope,
            status=None,
            start=clock.day_start(first, ctx.zone),
            end=clock.day_start(last + dt.timedelta(days=1), ctx.zone),
            limit=1000,
            cursor=None,
        )
        return jsonutil.dumps(
            DoctorSchedule(
                doctor_id=doctor_id,
                working_hours=hours,
                time_off=time_off,
                appointments=listing.items,
            )
        )

    key = keys.key(s.DOCTOR_SCHEDULE.name, scope.identity, first.isoformat(), last.isoformat())
    answer = await ctx.cache.answer(s.DOCTOR_SCHEDULE, key, scope.owners, load)
    ctx.audit.read(actor_id=actor.id, subject_id=scope.subject, entity="appointment_list")
    return answer


async def warm(ctx: Context) -> int:
    """Departments, doctors, and today's and tomorrow's slots per doctor, so the first
    visitors after a start are answered from memory; how many were warmed. Never raises."""
    warmed = 0
    try:
        await departments(ctx)
        everyone = jsonutil.loads((await doctors(ctx, department_id=None)).entry.body)
        warmed += 2
        for department_id in sorted({d["departmentId"] for d in everyone}):
            await doctors(ctx, department_id=department_id)
            warmed += 1
        today = clock.today(ctx.zone, ctx.clock.now())
        for doctor in everyone:
            for day in (today, today + dt.timedelta(days=1)):
                await slots(ctx, doctor_id=doctor["id"], department_id=None, first=day, last=day)
                warmed += 1
    except (CareslotError, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.warning("cache warming stopped after %d answers: %s", warmed, exc)
    return warmed
