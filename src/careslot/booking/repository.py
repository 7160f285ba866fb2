"""SQL for appointments, their activity trail and idempotency keys."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import TypeAdapter

from careslot.booking.schemas import Appointment
from careslot.db import Conn
from careslot.errors import Conflict, SlotTaken

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


async def lock(conn: Conn, appointment_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "select id, client_id, doctor_id, starts_at, ends_at, status, type_id, "
        "buffer_before_minutes, buffer_after_minutes, lower(blocked) as blocked_from, "
        "upper(blocked) as blocked_to from appointments where id = $1 and status <> 'held' "
        "for update",
        appointment_id,
    )


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


async def insert(
    conn: Conn,
    *,
    client_id: int,
    doctor_id: int,
    department_id: int,
    start: datetime,
    end: datetime,
    reason: str,
    created_by: int,
    type_id: int | None = None,
    buffer_before: int = 0,
    buffer_after: int = 0,
) -> int:
    try:
        new_id: int = await conn.fetchval(
            """insert into appointments
                 (client_id, doctor_id, department_id, starts_at, ends_at, reason, created_by,
                  type_id, buffer_before_minutes, buffer_after_minutes)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id""",
            client_id,
            doctor_id,
            department_id,
            start,
            end,
            reason,
            created_by,
            type_id,
            buffer_before,
            buffer_after,
        )
    except asyncpg.ExclusionViolationError as exc:
        raise _overlap_error(exc) from exc
    except asyncpg.DeadlockDetectedError as exc:
        # Two inserts meeting in the exclusion check wait for each other (PostgreSQL's
        # exclusion constraints do not avoid it); the other one stands: the slot is taken.
        raise SlotTaken("that slot has just been taken; pick another") from exc
    return new_id


async def set_status(conn: Conn, appointment_id: int, status: str) -> None:
    await conn.execute(
        "update appointments set status = $2, updated_at = now() where id = $1",
        appointment_id,
        status,
    )


async def move(conn: Conn, appointment_id: int, start: datetime, end: datetime) -> None:
    try:
        await conn.execute(
            "update appointments set starts_at = $2, ends_at = $3, updated_at = now() "
            "where id = $1",
            appointment_id,
            start,
            end,
        )
    except asyncpg.ExclusionViolationError as exc:
        raise _overlap_error(exc) from exc


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


async def claim_idempotency_key(
    conn: Conn, *, user_id: int, key: str, request_hash: bytes
) -> asyncpg.Record | None:
    """Claim the key for this transaction, or return the answer stored by the first use.

    A concurrent first use holds the row until it commits, so a retry waits and then
    sees its answer instead of booking twice."""
    claimed = await conn.fetchval(
        """insert into idempotency_keys (user_id, key, request_hash, status_code, response)
           values ($1, $2, $3, 0, '') on conflict do nothing returning 1""",
        user_id,
        key,
        request_hash,
    )
    if claimed:
        return None
    row: asyncpg.Record | None = await conn.fetchrow(
        "select request_hash, status_code, response from idempotency_keys "
        "where user_id = $1 and key = $2",
        user_id,
        key,
    )
    return row


async def store_idempotent_answer(
    conn: Conn, *, user_id: int, key: str, status_code: int, response: bytes
) -> None:
    await conn.execute(
        "update idempotency_keys set status_code = $3, response = $4 "
        "where user_id = $1 and key = $2",
        user_id,
        key,
        status_code,
        response,
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
