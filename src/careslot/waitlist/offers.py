"""Offering freed slots: the earliest waiting entry gets the earliest free slot that suits it.

Runs inside a transaction of the caller's (the sweeper's, or a decline's): it claims freed
slots, holds one slot per waiting entry that can use one, writes the offer messages, and
forgets the freed slots, all of which commit together. One offerer per doctor at a time
(an advisory lock), so entries are served strictly first come, first served; the exclusion
constraints still decide every hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from careslot import clock
from careslot.booking import repository as booking_repo
from careslot.context import Context
from careslot.db import Conn
from careslot.errors import UnknownReference
from careslot.scheduling import admin_repository as admin_repo
from careslot.scheduling import repository as schedule_repo
from careslot.scheduling import types
from careslot.scheduling.service import booking_window
from careslot.scheduling.slots import MAX_BUFFER, BusyTimes, Shape, days_touched, free_slots
from careslot.waitlist import repository as repo
from careslot.waitlist.repository import Hold

WAITLIST_LOCK = 0x3A171  # advisory lock namespace: one offerer per doctor
FREED_BATCH = 50
Period = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Offering:
    freed: int  # freed slots claimed (and forgotten at commit)
    holds: list[Hold]  # the offers made


async def offer_freed(ctx: Context, conn: Conn, *, now: datetime) -> Offering:
    """Offer the freed slots this transaction can claim (up to a batch)."""
    rows = await repo.claim_freed(conn, limit=FREED_BATCH)
    if not rows:
        return Offering(0, [])
    wanted: dict[int, list[Period | None]] = {}
    everyone: list[int] | None = None
    for r in rows:
        period = (r["start"], r["end"]) if r["start"] is not None else None
        if r["doctor_id"] is not None:
            doctors = [r["doctor_id"]]
        else:
            everyone = everyone if everyone is not None else await repo.waiting_doctors(conn)
            doctors = everyone
        for doctor_id in doctors:
            wanted.setdefault(doctor_id, []).append(period)
    freed_at = min(r["freed_at"] for r in rows)
    made: list[Hold] = []
    for doctor_id in sorted(wanted):  # one lock order for every offerer
        made += await offer_doctor(
            ctx, conn, doctor_id=doctor_id, periods=wanted[doctor_id], now=now, freed_at=freed_at
        )
    await repo.forget_freed(conn, [r["id"] for r in rows])
    return Offering(len(rows), made)


def _span(periods: Sequence[Period | None], earliest: datetime, latest: datetime) -> Period:
    if any(p is None for p in periods):
        return earliest, latest
    bounded = [p for p in periods if p is not None]
    return max(min(p[0] for p in bounded), earliest), min(max(p[1] for p in bounded), latest)


def _meets(blocked: Period, periods: Sequence[Period | None]) -> bool:
    return any(p is None or (blocked[0] < p[1] and p[0] < blocked[1]) for p in periods)


async def offer_doctor(
    ctx: Context,
    conn: Conn,
    *,
    doctor_id: int,
    periods: Sequence[Period | None],
    now: datetime,
    freed_at: datetime,
) -> list[Hold]:
    """Hold free slots of this doctor that meet `periods` (None: any time) for the waiting
    entries, in the order they joined. An entry is skipped when its patient is at the
    booking limit or busy at every such slot (the patient's exclusion constraint refuses
    the hold); no slot inside the minimum notice or past the horizon is offered."""
    settings, zone = ctx.settings, ctx.zone
    earliest, latest = booking_window(settings, now)
    start, end = _span(periods, earliest, latest)
    if start >= end + MAX_BUFFER:
        return []
    # As a booking: a concurrent time off either sees the hold or is seen by the offer.
    await admin_repo.lock_for_booking(conn, doctor_id)
    await conn.execute("select pg_advisory_xact_lock($1, $2)", WAITLIST_LOCK, doctor_id)
    schedule = (await schedule_repo.schedules(conn, [doctor_id])).get(doctor_id)
    if schedule is None:
        return []
    days = [d for d in days_touched(start, end, zone) if d >= clock.today(zone, earliest)]
    if not days:
        return []
    entries = await repo.waiting_for(
        conn,
        doctor_id=doctor_id,
        department_id=schedule.department_id,
        first_day=days[0],
        last_day=days[-1],
    )
    if not entries:
        return []
    look_from, look_to = clock.day_bounds(days[0], days[-1], zone)
    busy = (
        await schedule_repo.busy_intervals(
            conn, [doctor_id], look_from - MAX_BUFFER, look_to + MAX_BUFFER
        )
    )[doctor_id]
    limit = settings.max_future_appointments
    expires_at = now + timedelta(minutes=settings.offer_minutes)
    made: list[Hold] = []
    for entry in entries:
        shape = await _shape(conn, entry["type_id"], schedule.department_id, schedule.slot_minutes)
        if shape is None:
            continue
        if await booking_repo.live_future_count(conn, entry["client_id"], now) >= limit:
            continue  # at the booking limit: accepting could not book it
        candidates = free_slots(
            days=[d for d in days if entry["first_day"] <= d <= entry["last_day"]],
            windows=schedule.windows,
            slot_minutes=shape.minutes,
            zone=zone,
            busy=BusyTimes(busy),
            earliest=earliest,
            latest=latest,
            before=shape.before,
            after=shape.after,
        )
        for slot in candidates:
            if not _meets(shape.blocked(slot), periods):
                continue
            hold = await repo.insert_hold(
                conn,
                entry_id=entry["id"],
                client_id=entry["client_id"],
                doctor_id=doctor_id,
                department_id=schedule.department_id,
                start=slot.start,
                end=slot.end,
                type_id=entry["type_id"],
                buffer_before=shape.before,
                buffer_after=shape.after,
                expires_at=expires_at,
                freed_at=freed_at,
                now=now,
            )
            if hold is not None:  # else taken meanwhile, or the patient is busy then
                made.append(hold)
                busy.append((hold.blocked_from, hold.blocked_to))
                break
    return made


async def _shape(
    conn: Conn, type_id: int | None, department_id: int, slot_minutes: int
) -> Shape | None:
    """The entry's slot shape at this doctor, or None when the doctor cannot offer it."""
    if type_id is None:
        return Shape(slot_minutes)
    try:
        kind = await types.for_slots(conn, type_id)
    except UnknownReference:
        return None  # the type was retired since the patient joined
    return kind.shape if kind.department_id == department_id else None
