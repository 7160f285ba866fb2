"""The cached reads behind the API: for each, the key (strategy, owner, and the identity
that decides the answer), its owner tags, and the service call that loads it.

Access control stays in the services. A key always carries the caller's access class
(the patient, the doctor, or "staff"), so a cached answer is only ever served to a caller
for whom the same service call, with the same checks, has already succeeded; checks that
need no database (stats_owner) run before the key is even looked up. Hits are audited
here, misses by the service itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from careslot import clock, jsonutil
from careslot.accounts.models import User
from careslot.booking import service as booking
from careslot.cache import keys
from careslot.cache import strategies as s
from careslot.cache.core import Fetched, Loader
from careslot.cache.entry import Entry
from careslot.dashboard import service as dashboard
from careslot.scheduling import service as scheduling

if TYPE_CHECKING:
    from careslot.context import Context


@dataclass(frozen=True, slots=True)
class Answer:
    entry: Entry
    strategy: s.Strategy


def _scope(actor: User) -> str:
    """The access class whose answers are interchangeable."""
    if actor.is_staff:
        return "staff"
    if actor.role == "doctor":
        return f"doctor:{actor.doctor_id}"
    return f"client:{actor.id}"


async def _get(
    ctx: Context, strategy: s.Strategy, key: str, tags: tuple[str, ...], loader: Loader
) -> tuple[Answer, Fetched]:
    fetched = await ctx.cache.fetch(strategy, key, tags, loader)
    return Answer(fetched.entry, strategy), fetched


async def departments(ctx: Context) -> Answer:
    async def load() -> bytes:
        return jsonutil.dumps(await scheduling.departments(ctx))

    answer, _ = await _get(
        ctx, s.DEPARTMENTS, keys.key(s.DEPARTMENTS.name, "public"), (keys.DEPARTMENTS,), load
    )
    return answer


async def doctors(ctx: Context, *, department_id: int | None) -> Answer:
    async def load() -> bytes:
        return jsonutil.dumps(await scheduling.doctors(ctx, department_id=department_id))

    key = keys.key(s.DOCTORS.name, "public", department_id or "all")
    answer, _ = await _get(ctx, s.DOCTORS, key, (keys.DOCTORS,), load)
    return answer


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
        return jsonutil.dumps({"slots": found})

    if doctor_id is not None:  # the service prefers the doctor when both are given
        owner = keys.doctor(doctor_id)
    elif department_id is not None:
        owner = keys.department(department_id)
    else:
        return Answer(Entry.of(await load()), s.AVAILABLE_SLOTS)  # the service refuses it
    parts: tuple[str, ...] = (first.isoformat(), last.isoformat())
    tags: tuple[str, ...] = (
        keys.slots_of(owner),
        keys.slots_on(owner, first if first == last else None),
        keys.ALL_SLOTS,
    )
    if type_id is not None:  # typed lists also go when their type is edited
        parts += (f"type{type_id}",)
        tags += (keys.slots_of(keys.appointment_type(type_id)),)
    key = keys.key(s.AVAILABLE_SLOTS.name, owner, *parts)
    answer, _ = await _get(ctx, s.AVAILABLE_SLOTS, key, tags, load)
    return answer


async def doctor_schedule(
    ctx: Context, *, actor: User, doctor_id: int, first: dt.date, last: dt.date
) -> Answer:
    """The caller must already be staff or this doctor (the route checks)."""

    async def load() -> bytes:
        view = await scheduling.doctor_schedule(ctx, doctor_id=doctor_id, first=first, last=last)
        listing = await booking.page(
            ctx,
            actor=actor,
            status=None,
            start=clock.day_start(first, ctx.zone),
            end=clock.day_start(last + dt.timedelta(days=1), ctx.zone),
            limit=1000,
            cursor=None,
            doctor_id=doctor_id,
        )
        view["appointments"] = listing["items"]
        return jsonutil.dumps(view)

    owner = keys.doctor(doctor_id)
    key = keys.key(s.DOCTOR_SCHEDULE.name, owner, first.isoformat(), last.isoformat())
    answer, fetched = await _get(ctx, s.DOCTOR_SCHEDULE, key, (owner, keys.ALL_SCHEDULES), load)
    if not fetched.loaded_here:
        ctx.audit.read(actor_id=actor.id, subject_id=None, entity="appointment_list")
    return answer


async def dashboard_stats(ctx: Context, *, actor: User, client_id: int | None) -> Answer:
    owner = dashboard.stats_owner(actor, client_id)  # refuses before any cache look-up

    async def load() -> bytes:
        return jsonutil.dumps(await dashboard.stats(ctx, actor=actor, client_id=client_id))

    answer, fetched = await _get(
        ctx,
        s.USER_STATS,
        keys.key(s.USER_STATS.name, keys.client(owner)),
        (keys.client(owner),),
        load,
    )
    if not fetched.loaded_here:
        ctx.audit.read(actor_id=actor.id, subject_id=owner, entity="dashboard")
    return answer


async def activity(ctx: Context, *, actor: User, limit: int) -> Answer:
    async def load() -> bytes:
        return jsonutil.dumps(await dashboard.activity(ctx, actor=actor, limit=limit))

    if actor.is_staff:
        subject, owner = None, keys.ALL_ACTIVITY
    elif actor.role == "patient":
        subject, owner = actor.id, keys.client(actor.id)
    else:
        return Answer(Entry.of(await load()), s.RECENT_ACTIVITY)  # the service refuses it
    key = keys.key(s.RECENT_ACTIVITY.name, _scope(actor), limit)
    answer, fetched = await _get(ctx, s.RECENT_ACTIVITY, key, (owner,), load)
    if not fetched.loaded_here:
        ctx.audit.read(actor_id=actor.id, subject_id=subject, entity="activity")
    return answer


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
    async def load() -> bytes:
        return jsonutil.dumps(
            await booking.page(
                ctx,
                actor=actor,
                status=status,
                start=start,
                end=end,
                limit=limit,
                cursor=cursor,
                doctor_id=doctor_id,
                client_id=client_id,
            )
        )

    params: dict[str, Any] = {
        "status": status,
        "from": start,
        "to": end,
        "limit": limit,
        "cursor": cursor,
        "doctorId": doctor_id,
        "clientId": client_id,
    }
    subject: int | None = client_id
    tags: tuple[str, ...]
    if actor.role == "patient":
        tags, subject = (keys.client(actor.id),), actor.id
    elif actor.role == "doctor" and actor.doctor_id is not None:
        tags = (keys.doctor(actor.doctor_id),)
    elif actor.is_staff and (client_id or doctor_id):
        tags = tuple(
            t
            for t in (client_id and keys.client(client_id), doctor_id and keys.doctor(doctor_id))
            if t
        )
    else:
        tags = (keys.ALL_APPOINTMENTS,)
    key = keys.key(s.APPOINTMENTS.name, _scope(actor), keys.query_hash(params))
    answer, fetched = await _get(ctx, s.APPOINTMENTS, key, tags, load)
    if not fetched.loaded_here:
        ctx.audit.read(actor_id=actor.id, subject_id=subject, entity="appointment_list")
    return answer


async def calendar(
    ctx: Context, *, actor: User, year: int, month: int, doctor_id: int | None
) -> Answer:
    async def load() -> bytes:
        return jsonutil.dumps(
            await booking.calendar(ctx, actor=actor, year=year, month=month, doctor_id=doctor_id)
        )

    subject: int | None = None
    if actor.role == "patient":
        owner, subject = keys.client(actor.id), actor.id
    elif actor.role == "doctor" and actor.doctor_id is not None:
        owner = keys.doctor(actor.doctor_id)
    elif actor.is_staff and doctor_id is not None:
        owner = keys.doctor(doctor_id)
    else:
        return Answer(Entry.of(await load()), s.CALENDAR)  # the service refuses it
    key = keys.key(s.CALENDAR.name, _scope(actor), f"{year:04d}-{month:02d}", doctor_id or "-")
    answer, fetched = await _get(ctx, s.CALENDAR, key, (owner,), load)
    if not fetched.loaded_here:
        ctx.audit.read(actor_id=actor.id, subject_id=subject, entity="calendar")
    return answer
