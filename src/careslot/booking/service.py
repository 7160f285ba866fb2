"""Booking: book, read, list, cancel, reschedule and move appointments through the day.

The database decides whether a slot is free (exclusion constraints); this module checks
who may do what, that a time is a real slot, and announces each committed change.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from careslot import access, clock, jsonutil
from careslot.access import Scope
from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.booking import repository as repo
from careslot.booking.policies import booked_shape, check_change_window
from careslot.booking.rules import STATUSES, check_move, check_reschedule
from careslot.booking.schemas import Appointment, AppointmentPage, Calendar, Status
from careslot.context import Context
from careslot.db import Conn
from careslot.errors import (
    BookingLimit,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    ValidationFailed,
)
from careslot.events import Change
from careslot.messages import outbox
from careslot.scheduling import types
from careslot.scheduling.admin_repository import lock_appointments_doctor
from careslot.scheduling.service import check_slot
from careslot.scheduling.slots import Shape, days_touched
from careslot.waitlist.repository import release_expired_holds


@dataclass(frozen=True, slots=True)
class Booked:
    body: bytes
    replayed: bool


async def _booking_client(conn: Conn, actor: User, client_id: int | None) -> int:
    if actor.is_patient:
        if client_id is not None and client_id != actor.id:
            raise Forbidden("patients book for themselves only")
        return actor.id
    if not actor.is_staff:
        raise Forbidden("only patients and staff book appointments")
    if client_id is None:
        raise ValidationFailed("clientId is required when staff book")
    if await repo.lock_patient(conn, client_id) != "patient":
        raise NotFound("no such patient")
    return client_id


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
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        if idempotency_key:
            stored = await repo.claim_idempotency_key(
                conn, user_id=actor.id, key=idempotency_key, request_hash=request_hash
            )
            if stored is not None:
                if bytes(stored["request_hash"]) != request_hash:
                    raise IdempotencyKeyReused("this Idempotency-Key was used for another request")
                return Booked(bytes(stored["response"]), replayed=True)
        patient_id = await _booking_client(conn, actor, client_id)
        if actor.is_patient:
            await repo.lock_patient(conn, patient_id)  # serialises the booking limit check
        kind = await types.for_booking(conn, actor=actor, type_id=type_id) if type_id else None
        doctor, slot = await check_slot(
            ctx,
            conn,
            doctor_id=doctor_id,
            start=start,
            now=now,
            shape=kind.shape if kind else None,
            department_id=kind.department_id if kind else None,
        )
        limit = ctx.settings.max_future_appointments
        if await repo.live_future_count(conn, patient_id, now) >= limit:
            raise BookingLimit(f"at most {limit} upcoming appointments at a time")
        if ctx.settings.waitlist_enabled:  # expired holds, and the patient's own, are free
            await release_expired_holds(
                conn,
                doctor_id=doctor_id,
                client_id=patient_id,
                blocked=(kind.shape if kind else Shape(0)).blocked(slot),
                slot=(slot.start, slot.end),
                now=now,
            )
        appointment_id = await repo.insert(
            conn,
            client_id=patient_id,
            doctor_id=doctor_id,
            department_id=doctor.department_id,
            start=slot.start,
            end=slot.end,
            reason=reason,
            created_by=actor.id,
            type_id=kind.id if kind else None,
            buffer_before=kind.buffer_before_minutes if kind else 0,
            buffer_after=kind.buffer_after_minutes if kind else 0,
        )
        await repo.add_activity(
            conn,
            actor_id=actor.id,
            client_id=patient_id,
            appointment_id=appointment_id,
            kind="booked",
            summary=f"Booked with {doctor.name}",
        )
        await outbox.appointment_changed(conn, ctx, appointment_id=appointment_id, kind="booked")
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=patient_id,
            action="create",
            entity="appointment",
            entity_id=appointment_id,
        )
        appointment = await repo.get(conn, appointment_id)
        body = jsonutil.dumps(appointment)
        if idempotency_key:
            await repo.store_idempotent_answer(
                conn, user_id=actor.id, key=idempotency_key, status_code=201, response=body
            )
    await ctx.changes.publish(
        Change(
            "booked",
            (patient_id,),
            (doctor_id,),
            appointment_id,
            days_touched(*(kind.shape if kind else Shape(0)).blocked(slot), ctx.zone),
            (doctor.department_id,),
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
) -> Appointment:
    if (status is None) == (start is None):
        raise ValidationFailed("send either status or start")
    target = _status(status) if status is not None else None
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        if start is not None:  # the schedule lock before the row's, as a time off takes them
            await lock_appointments_doctor(conn, appointment_id)
        row = await repo.lock(conn, appointment_id)
        seen = row is not None and access.can_see_appointment(
            actor, client_id=row["client_id"], doctor_id=row["doctor_id"]
        )
        if not seen:
            raise NotFound("no such appointment")
        assert row is not None
        zone = ctx.zone
        was_blocking = days_touched(row["blocked_from"], row["blocked_to"], zone)
        if target is not None:
            check_move(
                actor=actor,
                current=Status(row["status"]),
                target=target,
                starts_at=row["starts_at"],
                now=now,
            )
            if target == Status.CANCELLED:
                await check_change_window(conn, ctx.settings, actor=actor, appointment=row, now=now)
            await repo.set_status(conn, appointment_id, target)
            kind, summary = str(target), f"Status changed to {target.replace('_', ' ')}"
            days = was_blocking
            departments: tuple[int, ...] = ()  # the cache looks the doctor's up
        else:
            assert start is not None
            check_reschedule(
                actor=actor, current=Status(row["status"]), starts_at=row["starts_at"], now=now
            )
            await check_change_window(conn, ctx.settings, actor=actor, appointment=row, now=now)
            shape = booked_shape(row)
            doctor, slot = await check_slot(
                ctx,
                conn,
                doctor_id=row["doctor_id"],
                start=start,
                now=now,
                shape=shape,
            )
            await repo.move(conn, appointment_id, slot.start, slot.end)
            departments = (doctor.department_id,)
            kind, summary = "rescheduled", "Rescheduled"
            now_blocking = (shape or Shape(0)).blocked(slot)
            days = (*was_blocking, *days_touched(*now_blocking, zone))
        await repo.add_activity(
            conn,
            actor_id=actor.id,
            client_id=row["client_id"],
            appointment_id=appointment_id,
            kind=kind,
            summary=summary,
        )
        await outbox.appointment_changed(conn, ctx, appointment_id=appointment_id, kind=kind)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=row["client_id"],
            action=f"update:{kind}",
            entity="appointment",
            entity_id=appointment_id,
        )
        appointment = await repo.get(conn, appointment_id)
    await ctx.changes.publish(
        Change(
            kind,
            (row["client_id"],),
            (row["doctor_id"],),
            appointment_id,
            tuple(dict.fromkeys(days)),
            departments,
        )
    )
    assert appointment is not None
    return appointment


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
