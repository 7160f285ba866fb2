"""SQL for appointments, their activity trail and idempotency keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from pydantic import TypeAdapter

from careslot.booking.schemas import Appointment
from careslot.db import Conn
from careslot.errors import (
    BookingLimit,
    CareslotError,
    Conflict,
    IdempotencyKeyReused,
    InvalidSlot,
    NotFound,
    SlotTaken,
)

# The one place where rows become Appointments: column names are the model's field names.
SELECT = """select a.id, a.client_id, u.name as client_name, a.doctor_id, d.name as doctor_name,
       a.department_id, dep.name as department_name, dep.color as department_color,
       a.starts_at as start, a.ends_at as "end", a.status, a.reason, a.created_at, a.updated_at,
       a.type_id, t.name as type_name
from appointments a
join users u on u.id = a.client_id
join doctors d on d.id = a.doctor_id
join departments dep on dep.id = a.department_id
left join appointment_types t on t.id = a.type_id"""
_APPOINTMENTS = TypeAdapter(list[Appointment])
log = logging.getLogger("careslot.booking")


def _overlap_error(exc: asyncpg.ExclusionViolationError) -> Conflict:
    if exc.constraint_name == "appointments_no_client_overlap":
        err = Conflict("the patient already has an appointment at that time")
        err.code = "patient_busy"  # type: ignore[misc]
        return err
    return SlotTaken("that slot has just been taken; pick another")


def appointments_from(rows: list[asyncpg.Record]) -> list[Appointment]:
    """Rows of SELECT as Appointments."""
    return _APPOINTMENTS.validate_python([dict(r) for r in rows])


async def get(conn: Conn, appointment_id: int) -> Appointment | None:
    row = await conn.fetchrow(SELECT + " where a.id = $1 and a.status <> 'held'", appointment_id)
    return Appointment.model_validate(dict(row)) if row else None


# An appointment as a change checks it, with its doctor's department.
_FOR_CHANGE = """select a.id, a.client_id, a.doctor_id, d.department_id, a.starts_at, a.ends_at,
                        a.status, a.type_id, a.buffer_before_minutes, a.buffer_after_minutes,
                        lower(a.blocked) as blocked_from, upper(a.blocked) as blocked_to
                 from appointments a join doctors d on d.id = a.doctor_id
                 where a.id = $1 and a.status <> 'held'"""
_LOCK_FOR_CHANGE = f"{_FOR_CHANGE} for update of a for share of d"


async def lock(conn: Conn, appointment_id: int) -> asyncpg.Record | None:
    """The appointment, locked, with its doctor's department. The doctor's row is share-locked
    too, so the doctor cannot move to another department before this change commits: the
    department is then still the doctor's when the caches drop its slot lists."""
    return await conn.fetchrow(_LOCK_FOR_CHANGE, appointment_id)


async def read_for_move(conn: Conn, appointment_id: int) -> asyncpg.Record | None:
    """The appointment as `lock` reads it, without a lock: `move` confirms it under one."""
    return await conn.fetchrow(_FOR_CHANGE, appointment_id)


async def lock_patient(conn: Conn, client_id: int) -> str | None:
    role: str | None = await conn.fetchval(
        # NO KEY UPDATE: serialises one patient's bookings (the booking-limit check) without
        # conflicting with the KEY SHARE locks that foreign keys to users take, which would
        # deadlock two concurrent bookings of one patient.
        "select role from users where id = $1 and is_active for no key update",
        client_id,
    )
    return role


async def live_future_count(conn: Conn, client_id: int, now: datetime) -> int:
    count: int = await conn.fetchval(
        """select count(*) from appointments where client_id = $1 and starts_at > $2
           and status in ('scheduled', 'confirmed', 'checked_in')""",
        client_id,
        now,
    )
    return count


class StaleCatalog(Exception):
    """The schedules a booking was checked against changed since they were read."""


# book_appointment's refusals (raised with the problem code as the message) -> our errors.
_REFUSALS: dict[str, CareslotError] = {
    "idempotency_key_reused": IdempotencyKeyReused(
        "this Idempotency-Key was used for another request"
    ),
    "no_patient": NotFound("no such patient"),
    "doctor_away": InvalidSlot("the doctor is away at that time"),
}


@dataclass(frozen=True, slots=True)
class NewBooking:
    """What book_appointment is asked to write (the slot already fits the schedule of
    `catalog`, the catalogue version it was checked against)."""

    actor_id: int
    client_id: int
    doctor_id: int
    department_id: int
    start: datetime
    end: datetime
    before: int
    after: int
    type_id: int | None
    reason: str
    summary: str
    key: str | None
    request_hash: bytes
    limit: int
    now: datetime
    reminders: tuple[timedelta, ...]
    catalog: int


async def book(conn: Conn, booking: NewBooking, *, lock: int, waitlist: bool) -> asyncpg.Record:
    """Book in one statement (migration 0009): the answer's JSON (`body`) and the new
    appointment's id (`appointment_id`, None when the answer is an idempotent replay of an
    earlier one); with the waitlist on, what became of the holds it released."""
    b = booking
    try:
        row = await conn.fetchrow(
            "select * from book_appointment("
            "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            b.actor_id,
            b.client_id,
            b.doctor_id,
            b.department_id,
            b.start,
            b.end,
            b.before,
            b.after,
            b.type_id,
            b.reason,
            b.summary,
            b.key,
            b.request_hash,
            b.limit,
            b.now,
            list(b.reminders),
            b.catalog,
            lock,
            waitlist,
        )
    except asyncpg.ExclusionViolationError as exc:
        raise _overlap_error(exc) from exc
    except asyncpg.DeadlockDetectedError as exc:
        # Two inserts meeting in the exclusion check wait for each other (PostgreSQL's
        # exclusion constraints do not avoid it); the other one stands: the slot is taken.
        # It cost this request deadlock_timeout (1 s by default): worth a warning.
        log.warning("booking insert deadlocked in the exclusion check; answered slot_taken")
        raise SlotTaken("that slot has just been taken; pick another") from exc
    except asyncpg.RaiseError as exc:
        if exc.message == "stale_catalog":
            raise StaleCatalog from exc
        if exc.message == "booking_limit":
            raise BookingLimit(f"at most {b.limit} upcoming appointments at a time") from exc
        refusal = _REFUSALS.get(exc.message)
        if refusal is None:
            raise
        raise type(refusal)(str(refusal)) from exc
    assert row is not None
    return row


async def stored_answer(conn: Conn, *, user_id: int, key: str) -> asyncpg.Record | None:
    """The answer an earlier use of this Idempotency-Key stored, if any."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "select request_hash, response from idempotency_keys "
        "where user_id = $1 and key = $2 and status_code <> 0",
        user_id,
        key,
    )
    return row


async def change(
    conn: Conn,
    *,
    appointment_id: int,
    actor_id: int,
    subject_id: int,
    status: str | None,
    span: tuple[datetime, datetime] | None,
    kind: str,
    summary: str,
    event: str,
    now: datetime,
    reminders: tuple[timedelta, ...],
) -> bytes:
    """A status move or a move in time, with its activity, messages and audit, in one
    statement (migration 0011); the appointment's JSON as it is now."""
    try:
        body: bytes = await conn.fetchval(
            "select change_appointment($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            appointment_id,
            actor_id,
            subject_id,
            status,
            span[0] if span else None,
            span[1] if span else None,
            kind,
            summary,
            event,
            now,
            list(reminders),
        )
    except asyncpg.ExclusionViolationError as exc:
        raise _overlap_error(exc) from exc
    return bytes(body)


class ChangedMeanwhile(Exception):
    """The appointment is no longer what a move was checked against: read and check again."""


async def move(
    conn: Conn,
    *,
    seen: asyncpg.Record,
    actor_id: int,
    status: str,
    kind: str,
    summary: str,
    event: str,
    now: datetime,
    reminders: tuple[timedelta, ...],
    exempt: bool,
) -> tuple[bytes, int]:
    """A status move in one statement (migration 0016), if the appointment is still as `seen`
    (read_for_move): the appointment's JSON as it is now, and its doctor's department, read
    under the lock."""
    try:
        row = await conn.fetchrow(
            "select * from move_appointment($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            seen["id"],
            seen["status"],
            seen["starts_at"],
            seen["ends_at"],
            actor_id,
            status,
            kind,
            summary,
            event,
            now,
            list(reminders),
            exempt,
        )
    except asyncpg.ExclusionViolationError as exc:
        raise _overlap_error(exc) from exc
    except asyncpg.RaiseError as exc:
        if exc.message == "changed_meanwhile":
            raise ChangedMeanwhile from exc
        raise
    assert row is not None
    return bytes(row["body"]), row["department_id"]


async def add_activity(
    conn: Conn,
    *,
    actor_id: int,
    client_id: int,
    appointment_id: int,
    kind: str,
    summary: str,
) -> None:
    await conn.execute(
        """insert into activity (actor_id, client_id, appointment_id, kind, summary)
           values ($1, $2, $3, $4, $5)""",
        actor_id,
        client_id,
        appointment_id,
        kind,
        summary,
    )


async def page(
    conn: Conn,
    *,
    client_id: int | None,
    doctor_id: int | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Appointment]:
    rows = await conn.fetch(
        SELECT
        + """
        where a.status <> 'held'
          and ($1::bigint is null or a.client_id = $1)
          and ($2::bigint is null or a.doctor_id = $2)
          and ($3::text is null or a.status = $3)
          and ($4::timestamptz is null or a.starts_at >= $4)
          and ($5::timestamptz is null or a.starts_at < $5)
          and ($6::timestamptz is null or (a.starts_at, a.id) > ($6, $7::bigint))
        order by a.starts_at, a.id
        limit $8""",
        client_id,
        doctor_id,
        status,
        start,
        end,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return appointments_from(rows)
