"""The waitlist: join, read, leave, and accept or decline an offer.

Who may do what: patients their own entries, staff anyone's (and never 403 for an id:
someone else's entry is 404). An offer is accepted through the booking service itself, so
every booking rule applies (idempotency key, booking limit, the slot still valid), and the
booking's first step releases the patient's own hold in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import asyncpg

from careslot import clock
from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.booking import repository as booking_repo
from careslot.booking import service as booking
from careslot.booking.service import Booked
from careslot.context import Context
from careslot.db import Conn
from careslot.errors import Conflict, Forbidden, NotFound, TypeNotOffered, ValidationFailed
from careslot.events import Change
from careslot.monitoring import metrics
from careslot.scheduling import repository as schedule_repo
from careslot.scheduling import types
from careslot.scheduling.slots import day_slots, days_touched
from careslot.waitlist import offers
from careslot.waitlist import repository as repo
from careslot.waitlist.repository import Hold
from careslot.waitlist.schemas import EntryStatus, WaitlistEntry, WaitlistListing, Wish

MAX_DAYS = 31  # one entry covers at most a month of days, as a slot search does


class OfferGone(Conflict):
    code, title = "offer_gone", "That offer is no longer open"


class WaitlistLimit(Conflict):
    code, title = "waitlist_limit", "Too many waitlist entries"


def _require_member(actor: User) -> None:
    if not (actor.is_patient or actor.is_staff):
        raise Forbidden("the waitlist is for patients and staff")


def _visible(actor: User, client_id: int) -> bool:
    return actor.is_staff or client_id == actor.id


async def _client(conn: Conn, actor: User, client_id: int | None) -> int:
    if actor.is_patient:
        if client_id not in (None, actor.id):
            raise Forbidden("patients join the waitlist for themselves only")
        return actor.id
    if client_id is None:
        raise ValidationFailed("clientId is required when staff add a patient")
    if await booking_repo.lock_patient(conn, client_id) != "patient":
        raise NotFound("no such patient")
    return client_id


def _check_days(ctx: Context, first: date, last: date) -> None:
    today = clock.today(ctx.zone, ctx.clock.now())
    if last < first:
        raise ValidationFailed("'to' is before 'from'")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"at most {MAX_DAYS} days per entry")
    if last < today:
        raise ValidationFailed("those days are past")
    if first > today + timedelta(days=ctx.settings.horizon_days):
        raise ValidationFailed(f"bookings open {ctx.settings.horizon_days} days ahead")


async def join(
    ctx: Context,
    *,
    actor: User,
    doctor_id: int | None,
    department_id: int | None,
    first_day: date,
    last_day: date,
    type_id: int | None = None,
    client_id: int | None = None,
) -> WaitlistEntry:
    _require_member(actor)
    if (doctor_id is None) == (department_id is None):
        raise ValidationFailed("send either doctorId or departmentId")
    _check_days(ctx, first_day, last_day)
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        patient = await _client(conn, actor, client_id)
        if actor.is_patient:
            await booking_repo.lock_patient(conn, patient)  # serialises the limit check
        if doctor_id is not None:
            doctor = await schedule_repo.doctor(conn, doctor_id)
            if doctor is None:
                raise NotFound("no such doctor")
            department_id = doctor["department_id"]
        elif department_id not in {d.id for d in await schedule_repo.departments(conn)}:
            raise NotFound("no such department")
        assert department_id is not None
        if type_id is not None:
            kind = await types.for_booking(conn, actor=actor, type_id=type_id)
            if kind.department_id != department_id:
                raise TypeNotOffered("that department does not offer this type")
        limit = ctx.settings.max_future_appointments
        if await repo.open_count(conn, patient) >= limit:
            raise WaitlistLimit(f"at most {limit} open waitlist entries at a time")
        wish = Wish(
            client_id=patient,
            doctor_id=doctor_id,
            department_id=department_id,
            type_id=type_id,
            first_day=first_day,
            last_day=last_day,
        )
        entry_id = await repo.insert_entry(conn, wish, created_by=actor.id, now=now)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=patient,
            action="create",
            entity="waitlist_entry",
            entity_id=entry_id,
        )
        # Slots already free in those days are the patient's to book; the waitlist waits
        # for the next one that frees up.
        (entry,) = await repo.entries(conn, client_id=None, entry_id=entry_id)
    return entry


async def listing(ctx: Context, *, actor: User, doctor_id: int | None = None) -> WaitlistListing:
    """Patients: their own entries; staff: everyone's (of one doctor with `doctor_id`)."""
    _require_member(actor)
    async with ctx.pool.acquire() as conn:
        items = await repo.entries(
            conn, client_id=None if actor.is_staff else actor.id, doctor_id=doctor_id
        )
    ctx.audit.read(
        actor_id=actor.id,
        subject_id=None if actor.is_staff else actor.id,
        entity="waitlist",
    )
    return WaitlistListing(items=items)


async def _own_entry(conn: Conn, actor: User, entry_id: int) -> asyncpg.Record:
    row = await repo.lock_entry(conn, entry_id)
    if row is None or not _visible(actor, row["client_id"]) or row["status"] == "removed":
        raise NotFound("no such waitlist entry")
    return row


async def decline(ctx: Context, *, actor: User, entry_id: int) -> WaitlistEntry:
    """Give the offer up: the slot goes to the next waiting entry in this same transaction,
    or is free for everyone."""
    entry = await _let_go(ctx, actor=actor, entry_id=entry_id, to=EntryStatus.DECLINED)
    assert entry is not None  # a declined entry is still listed
    return entry


async def remove(ctx: Context, *, actor: User, entry_id: int) -> None:
    """Leave the waitlist; a slot held for the entry passes on as on a decline."""
    await _let_go(ctx, actor=actor, entry_id=entry_id, to=EntryStatus.REMOVED)


async def _let_go(
    ctx: Context, *, actor: User, entry_id: int, to: EntryStatus
) -> WaitlistEntry | None:
    _require_member(actor)
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await _own_entry(conn, actor, entry_id)
        if to == EntryStatus.DECLINED and row["status"] != EntryStatus.OFFERED:
            raise OfferGone("this entry has no open offer")
        released = await repo.delete_holds_of(conn, entry_id)
        await repo.set_status(conn, entry_id, to, now)
        # The trigger recorded the freed slot in this transaction: offer it now.
        offering = await offers.offer_freed(ctx, conn, now=now)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=row["client_id"],
            action=f"update:{to}" if to != EntryStatus.REMOVED else "delete",
            entity="waitlist_entry",
            entity_id=entry_id,
        )
        found = await repo.entries(conn, client_id=None, entry_id=entry_id)
    if released:
        metrics.WAITLIST_OFFERS.labels("declined").inc(len(released))
    metrics.WAITLIST_OFFERS.labels("made").inc(len(offering.holds))
    await announce(ctx, [*released, *offering.holds])
    return found[0] if found else None


async def accept(
    ctx: Context,
    *,
    actor: User,
    entry_id: int,
    idempotency_key: str | None = None,
    request_hash: bytes = b"",
) -> Booked:
    """Book the held slot (201, the appointment, as POST /api/appointments)."""
    _require_member(actor)
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn:
        if idempotency_key:
            replay = await repo.stored_answer(conn, user_id=actor.id, key=idempotency_key)
            if replay is not None and bytes(replay["request_hash"]) == request_hash:
                return Booked(bytes(replay["response"]), replayed=True)
        found = await repo.entries(conn, client_id=None, entry_id=entry_id)
        if not found or not _visible(actor, found[0].client_id):
            raise NotFound("no such waitlist entry")
        hold = await repo.live_hold(conn, entry_id, now)
    if hold is None:
        raise OfferGone("the offer has expired or was taken back")
    return await booking.book(
        ctx,
        actor=actor,
        doctor_id=hold["doctor_id"],
        start=hold["starts_at"],
        reason="",
        client_id=None if actor.is_patient else hold["client_id"],
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        type_id=hold["type_id"],
    )


async def announce(ctx: Context, holds: Iterable[Hold]) -> None:
    """After commit: every cache forgets the slots these holds took or gave back."""
    for hold in holds:
        await ctx.changes.publish(
            Change(
                "waitlist",
                (hold.client_id,),
                (hold.doctor_id,),
                hold.id,
                days_touched(hold.blocked_from, hold.blocked_to, ctx.zone),
                (hold.department_id,),
            )
        )


async def working_days(ctx: Context, *, doctor_id: int, days: Iterable[date]) -> set[date]:
    """The days among `days` on which the doctor has slots at all, booked or not: a day
    among them with no free slot is full, and the booking page offers the waitlist."""
    async with ctx.pool.acquire() as conn:
        schedule = (await schedule_repo.schedules(conn, [doctor_id])).get(doctor_id)
    if schedule is None:
        return set()
    zone = ctx.zone
    return {day for day in days if day_slots(day, schedule.windows, schedule.slot_minutes, zone)}
