"""Booking: book, read, list, cancel, reschedule and move appointments through the day.

The database decides whether a slot is free (exclusion constraints); this module checks
who may do what, that a time is a real slot, and announces each committed change.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from careslot import access, clock
from careslot.access import Scope
from careslot.accounts.models import User
from careslot.booking import repository as repo
from careslot.booking.policies import (
    booked_shape,
    check_change_window,
    exempt_from_change_window,
)
from careslot.booking.rules import STATUSES, check_move, check_reschedule
from careslot.booking.schemas import Appointment, AppointmentPage, Calendar, Status
from careslot.context import Context
from careslot.db import Conn
from careslot.errors import (
    CareslotError,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    ValidationFailed,
)
from careslot.events import Change
from careslot.messages import outbox
from careslot.scheduling import types
from careslot.scheduling.admin_repository import SCHEDULE_LOCK, lock_appointments_doctor
from careslot.scheduling.service import check_slot, slot_at
from careslot.scheduling.slots import Shape, days_touched
from careslot.waitlist.repository import note_released

# How often a booking re-reads the schedules when they changed under it.
CATALOG_ATTEMPTS = 3
MOVE_ATTEMPTS = 3  # reads of an appointment that others keep changing, before a 409


@dataclass(frozen=True, slots=True)
class Booked:
    body: bytes
    replayed: bool


def _booking_client(actor: User, client_id: int | None) -> int:
    if actor.is_patient:
        if client_id is not None and client_id != actor.id:
            raise Forbidden("patients book for themselves only")
        return actor.id
    if not actor.is_staff:
        raise Forbidden("only patients and staff book appointments")
    if client_id is None:
        raise ValidationFailed("clientId is required when staff book")
    return client_id  # book_appointment checks it is an active patient


async def _new_booking(
    ctx: Context,
    conn: Conn,
    *,
    actor: User,
    patient_id: int,
    doctor_id: int,
    start: datetime,
    reason: str,
    type_id: int | None,
    idempotency_key: str | None,
    request_hash: bytes,
    now: datetime,
) -> tuple[repo.NewBooking, tuple[datetime, datetime]]:
    """The booking to ask the database for, checked against the schedules in process
    memory (book_appointment checks they are still current), and the time it blocks."""
    catalog = ctx.catalog
    version, doctor = await catalog.doctor(conn, doctor_id)
    if doctor is None:
        raise NotFound("no such doctor")
    kind = None
    if type_id is not None:
        kind = types.check_bookable(await catalog.appointment_type(conn, type_id), actor=actor)
    shape = kind.shape if kind else Shape(doctor.slot_minutes)
    slot = slot_at(
        ctx,
        doctor,
        start=start,
        now=now,
        shape=shape,
        department_id=kind.department_id if kind else None,
    )
    booking = repo.NewBooking(
        actor_id=actor.id,
        client_id=patient_id,
        doctor_id=doctor_id,
        department_id=doctor.department_id,
        start=slot.start,
        end=slot.end,
        before=shape.before,
        after=shape.after,
        type_id=kind.id if kind else None,
        reason=reason,
        summary=f"Booked with {doctor.name}",
        key=idempotency_key,
        request_hash=request_hash,
        limit=ctx.settings.max_future_appointments,
        now=now,
        reminders=tuple(ctx.settings.reminder_offsets),
        catalog=version,
    )
    return booking, shape.blocked(slot)


async def book(
    ctx: Context,
    *,
    actor: User,
    doctor_id: int,
    start: datetime,
    reason: str,
    client_id: int | None = None,
    idempotency_key: str | None = None,
    request_hash: bytes = b"",
    type_id: int | None = None,
) -> Booked:
    """Book in one round trip: the slot is checked here against the schedules in memory,
    everything else (and whether those schedules are current) in book_appointment."""
    patient_id = _booking_client(actor, client_id)
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn:
        for attempt in range(CATALOG_ATTEMPTS):
            try:
                booking, blocked = await _new_booking(
                    ctx,
                    conn,
                    actor=actor,
                    patient_id=patient_id,
                    doctor_id=doctor_id,
                    start=start,
                    reason=reason,
                    type_id=type_id,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                    now=now,
                )
            except CareslotError:
                last = attempt + 1 == CATALOG_ATTEMPTS
                if not last and await ctx.catalog.is_stale(conn):  # the copy's refusal only
                    ctx.catalog.forget()
                    continue
                # A retry of a booking that succeeded gets its answer, even once the slot
                # no longer passes these checks (the time has come too close, say).
                if idempotency_key:
                    stored = await repo.stored_answer(conn, user_id=actor.id, key=idempotency_key)
                    if stored is not None:
                        if bytes(stored["request_hash"]) != request_hash:
                            raise IdempotencyKeyReused(
                                "this Idempotency-Key was used for another request"
                            ) from None
                        return Booked(bytes(stored["response"]), replayed=True)
                raise
            try:
                row = await repo.book(
                    conn, booking, lock=SCHEDULE_LOCK, waitlist=ctx.settings.waitlist_enabled
                )
            except repo.StaleCatalog:
                ctx.catalog.forget()  # hours, doctors or types changed: read them again
                if attempt + 1 == CATALOG_ATTEMPTS:
                    raise Conflict("the schedule is being changed; try again") from None
                continue
            break
    body, appointment_id = bytes(row["body"]), row["appointment_id"]
    if appointment_id is None:
        return Booked(body, replayed=True)
    note_released(row["released"], row["rebooked_minutes"])
    await ctx.changes.publish(
        Change(
            "booked",
            (patient_id,),
            (doctor_id,),
            appointment_id,
            days_touched(*blocked, ctx.zone),
            (booking.department_id,),
        )
    )
    return Booked(body, replayed=False)


async def get(ctx: Context, *, actor: User, appointment_id: int) -> Appointment:
    async with ctx.pool.acquire() as conn:
        appointment = await repo.get(conn, appointment_id)
    if appointment is None or not access.can_see_appointment(
        actor, client_id=appointment.client_id, doctor_id=appointment.doctor_id
    ):
        ctx.audit.read(
            actor_id=actor.id,
            subject_id=appointment.client_id if appointment else None,
            entity="appointment",
            entity_id=appointment_id,
            outcome="denied",
        )
        raise NotFound("no such appointment")
    ctx.audit.read(
        actor_id=actor.id,
        subject_id=appointment.client_id,
        entity="appointment",
        entity_id=appointment_id,
    )
    return appointment


def _status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}") from None


async def update(
    ctx: Context,
    *,
    actor: User,
    appointment_id: int,
    status: str | None = None,
    start: datetime | None = None,
) -> bytes:
    """Move an appointment through the day or in time; its JSON as it now is."""
    if (status is None) == (start is None):
        raise ValidationFailed("send either status or start")
    now = ctx.clock.now()
    if status is not None:
        return await _move(
            ctx, actor=actor, appointment_id=appointment_id, target=_status(status), now=now
        )
    assert start is not None
    return await _reschedule(ctx, actor=actor, appointment_id=appointment_id, start=start, now=now)


async def _reschedule(
    ctx: Context, *, actor: User, appointment_id: int, start: datetime, now: datetime
) -> bytes:
    """A move in time, in a transaction: the doctor's schedule lock, then the row's, then the
    checks (the new slot's among them) and the change."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        # The schedule lock before the row's, as a time off takes them.
        await lock_appointments_doctor(conn, appointment_id)
        row = await repo.lock(conn, appointment_id)
        seen = row is not None and access.can_see_appointment(
            actor, client_id=row["client_id"], doctor_id=row["doctor_id"]
        )
        if not seen:
            raise NotFound("no such appointment")
        assert row is not None
        zone = ctx.zone
        check_reschedule(
            actor=actor, current=Status(row["status"]), starts_at=row["starts_at"], now=now
        )
        await check_change_window(conn, ctx.settings, actor=actor, appointment=row, now=now)
        shape = booked_shape(row)
        slot = await check_slot(
            ctx,
            conn,
            doctor_id=row["doctor_id"],
            start=start,
            now=now,
            shape=shape,
        )
        now_blocking = (shape or Shape(0)).blocked(slot)
        days = (
            *days_touched(row["blocked_from"], row["blocked_to"], zone),
            *days_touched(*now_blocking, zone),
        )
        answer = await repo.change(
            conn,
            appointment_id=appointment_id,
            actor_id=actor.id,
            subject_id=row["client_id"],
            status=None,
            span=(slot.start, slot.end),
            kind="rescheduled",
            summary="Rescheduled",
            event=outbox.EVENTS["rescheduled"],
            now=now,
            reminders=tuple(ctx.settings.reminder_offsets),
        )
    await ctx.changes.publish(
        Change(
            "rescheduled",
            (row["client_id"],),
            (row["doctor_id"],),
            appointment_id,
            tuple(dict.fromkeys(days)),
            (row["department_id"],),  # locked with the row: see repo.lock
        )
    )
    return answer


async def _move(
    ctx: Context, *, actor: User, appointment_id: int, target: Status, now: datetime
) -> bytes:
    """A status move in two round trips: the appointment read and the move checked without a
    lock, then written by one statement that locks the row and confirms it is still what was
    checked (migration 0016). If it changed meanwhile, read and check again."""
    async with ctx.pool.acquire() as conn:
        for attempt in range(MOVE_ATTEMPTS):
            row = await repo.read_for_move(conn, appointment_id)
            if row is None or not access.can_see_appointment(
                actor, client_id=row["client_id"], doctor_id=row["doctor_id"]
            ):
                raise NotFound("no such appointment")
            check_move(
                actor=actor,
                current=Status(row["status"]),
                target=target,
                starts_at=row["starts_at"],
                now=now,
            )
            exempt = target == Status.CANCELLED and exempt_from_change_window(
                ctx.settings, actor=actor, starts_at=row["starts_at"], now=now
            )
            try:
                answer, department_id = await repo.move(
                    conn,
                    seen=row,
                    actor_id=actor.id,
                    status=target,
                    kind=str(target),
                    summary=f"Status changed to {target.replace('_', ' ')}",
                    event=outbox.EVENTS.get(str(target), "status_changed"),
                    now=now,
                    reminders=tuple(ctx.settings.reminder_offsets),
                    exempt=exempt,
                )
            except repo.ChangedMeanwhile:
                if attempt + 1 == MOVE_ATTEMPTS:
                    raise Conflict("the appointment is being changed; try again") from None
                continue
            break
    assert row is not None  # the loop either moved it or raised
    await ctx.changes.publish(
        Change(
            str(target),
            (row["client_id"],),
            (row["doctor_id"],),
            appointment_id,
            days_touched(row["blocked_from"], row["blocked_to"], ctx.zone),
            (department_id,),  # read under the row's lock: see move_appointment
        )
    )
    return answer


def encode_cursor(start: datetime, appointment_id: int) -> str:
    return base64.urlsafe_b64encode(f"{start.isoformat()}|{appointment_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        start, appointment_id = raw.rsplit("|", 1)
        parsed = datetime.fromisoformat(start)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, int(appointment_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor is not valid") from exc


async def page(
    ctx: Context,
    *,
    scope: Scope,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    cursor: str | None,
) -> AppointmentPage:
    """One page of the appointments `scope` allows (access.appointments decided it)."""
    wanted = _status(status) if status is not None else None
    after = decode_cursor(cursor) if cursor else None
    async with ctx.pool.acquire() as conn:
        items = await repo.page(
            conn,
            client_id=scope.client_id,
            doctor_id=scope.doctor_id,
            status=wanted,
            start=start,
            end=end,
            after=after,
            limit=limit + 1,
        )
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(items[-1].start, items[-1].id) if more else None
    return AppointmentPage(items=items, next_cursor=next_cursor)


async def calendar(ctx: Context, *, scope: Scope, year: int, month: int) -> Calendar:
    """A month of the appointments `scope` allows (access.calendar decided it)."""
    start, end = clock.month_bounds(year, month, ctx.zone)
    async with ctx.pool.acquire() as conn:
        items = await repo.page(
            conn,
            client_id=scope.client_id,
            doctor_id=scope.doctor_id,
            status=None,
            start=start,
            end=end,
            after=None,
            limit=5000,
        )
    return Calendar(month=f"{year:04d}-{month:02d}", doctor_id=scope.doctor_id, items=items)
