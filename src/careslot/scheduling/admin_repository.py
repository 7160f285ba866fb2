"""SQL for running the hospital: departments, doctors, working hours, time off, closures,
appointment types, and the locks that keep schedule writes and bookings apart."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time

import asyncpg

from careslot.db import Conn
from careslot.errors import NameTaken, UnknownReference
from careslot.scheduling.changes import DepartmentChanges, DoctorChanges, TypeChanges, TypeFields
from careslot.scheduling.schemas import (
    AdminDepartment,
    AdminDoctor,
    AppointmentType,
    Closure,
    DoctorTimeOff,
)

# Advisory lock keys (two-int form, so they never meet the one-bigint locks of the seeder
# and the view refresher). A booking takes both shared; a schedule write of one doctor takes
# that doctor's exclusively, a closure the hospital's exclusively. So a booking either
# commits before the time off looks for conflicts, or sees the time off when it checks.
SCHEDULE_LOCK = 0x5C4ED  # "schedule"
HOSPITAL = 0


def _doctor_key(doctor_id: int) -> int:
    return doctor_id % 2_147_483_647 + 1  # never HOSPITAL; a rare clash only serialises


async def lock_for_booking(conn: Conn, doctor_id: int) -> None:
    await conn.execute(
        "select pg_advisory_xact_lock_shared($1, $2), pg_advisory_xact_lock_shared($1, $3)",
        SCHEDULE_LOCK,
        HOSPITAL,
        _doctor_key(doctor_id),
    )


async def lock_appointments_doctor(conn: Conn, appointment_id: int) -> None:
    """lock_for_booking for the doctor of an appointment, taken before the appointment's
    row lock: a forced time off holds the doctor's lock and then locks the rows it cancels,
    so a reschedule that locked its row first and then waited here would deadlock it."""
    await conn.execute(
        """select pg_advisory_xact_lock_shared($1, $2),
                  pg_advisory_xact_lock_shared($1, (doctor_id % 2147483647 + 1)::int)
           from appointments where id = $3""",
        SCHEDULE_LOCK,
        HOSPITAL,
        appointment_id,
    )


async def lock_doctor(conn: Conn, doctor_id: int) -> None:
    await conn.execute(
        "select pg_advisory_xact_lock($1, $2)", SCHEDULE_LOCK, _doctor_key(doctor_id)
    )


async def lock_hospital(conn: Conn) -> None:
    await conn.execute("select pg_advisory_xact_lock($1, $2)", SCHEDULE_LOCK, HOSPITAL)


def _name_taken(exc: asyncpg.UniqueViolationError) -> NameTaken:
    return NameTaken(f"that name is already used ({exc.constraint_name})")


# Departments ---------------------------------------------------------------------------

DEPARTMENT = "select id, name, color, description, is_active from departments"


async def all_departments(conn: Conn) -> list[AdminDepartment]:
    rows = await conn.fetch(DEPARTMENT + " order by name")
    return [AdminDepartment.model_validate(dict(r)) for r in rows]


async def department(conn: Conn, department_id: int) -> AdminDepartment | None:
    row = await conn.fetchrow(DEPARTMENT + " where id = $1", department_id)
    return AdminDepartment.model_validate(dict(row)) if row else None


async def insert_department(conn: Conn, *, name: str, color: str, description: str) -> int:
    try:
        new_id: int = await conn.fetchval(
            "insert into departments (name, color, description) values ($1, $2, $3) returning id",
            name,
            color,
            description,
        )
    except asyncpg.UniqueViolationError as exc:
        raise _name_taken(exc) from exc
    return new_id


async def update_department(conn: Conn, department_id: int, changes: DepartmentChanges) -> bool:
    columns = {
        "name": "name",
        "color": "color",
        "description": "description",
        "is_active": "is_active",
    }
    return await _update(conn, "departments", department_id, columns, changes)


async def _update(
    conn: Conn, table: str, row_id: int, columns: Mapping[str, str], changes: Mapping[str, object]
) -> bool:
    """Set the given columns (names from a fixed map, never from the caller)."""
    sets = [f"{columns[k]} = ${i}" for i, k in enumerate(changes, start=2)]
    if not sets:
        return bool(await conn.fetchval(f"select 1 from {table} where id = $1", row_id))
    try:
        found = await conn.fetchval(
            f"update {table} set {', '.join(sets)} where id = $1 returning 1",
            row_id,
            *changes.values(),
        )
    except asyncpg.UniqueViolationError as exc:
        raise _name_taken(exc) from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise UnknownReference("no such department or user") from exc
    return bool(found)


# Doctors -------------------------------------------------------------------------------

DOCTOR = """select d.id, d.name, d.department_id, dep.name as department_name, d.specialty,
       d.slot_minutes, d.user_id, d.is_active
from doctors d join departments dep on dep.id = d.department_id"""


async def all_doctors(conn: Conn) -> list[AdminDoctor]:
    rows = await conn.fetch(DOCTOR + " order by dep.name, d.name, d.id")
    return [AdminDoctor.model_validate(dict(r)) for r in rows]


async def doctor(conn: Conn, doctor_id: int) -> AdminDoctor | None:
    row = await conn.fetchrow(DOCTOR + " where d.id = $1", doctor_id)
    return AdminDoctor.model_validate(dict(row)) if row else None


async def doctor_user_role(conn: Conn, user_id: int) -> str | None:
    role: str | None = await conn.fetchval("select role from users where id = $1", user_id)
    return role


async def insert_doctor(
    conn: Conn,
    *,
    name: str,
    department_id: int,
    specialty: str,
    slot_minutes: int,
    user_id: int | None,
) -> int:
    try:
        new_id: int = await conn.fetchval(
            """insert into doctors (name, department_id, specialty, slot_minutes, user_id)
               values ($1, $2, $3, $4, $5) returning id""",
            name,
            department_id,
            specialty,
            slot_minutes,
            user_id,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise UnknownReference("no such department or user") from exc
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken("that user is already linked to a doctor") from exc
    return new_id


async def update_doctor(conn: Conn, doctor_id: int, changes: DoctorChanges) -> bool:
    columns = {
        "name": "name",
        "department_id": "department_id",
        "specialty": "specialty",
        "slot_minutes": "slot_minutes",
        "user_id": "user_id",
        "is_active": "is_active",
    }
    try:
        return await _update(conn, "doctors", doctor_id, columns, changes)
    except NameTaken as exc:
        raise NameTaken("that user is already linked to a doctor") from exc


# Working hours ---------------------------------------------------------------------------


async def working_hours(conn: Conn, doctor_id: int) -> list[tuple[int, time, time]]:
    rows = await conn.fetch(
        "select weekday, start_time, end_time from working_hours where doctor_id = $1 "
        "order by weekday, start_time",
        doctor_id,
    )
    return [(r["weekday"], r["start_time"], r["end_time"]) for r in rows]


async def replace_working_hours(
    conn: Conn, doctor_id: int, windows: list[tuple[int, time, time]]
) -> None:
    await conn.execute("delete from working_hours where doctor_id = $1", doctor_id)
    await conn.executemany(
        "insert into working_hours (doctor_id, weekday, start_time, end_time) "
        "values ($1, $2, $3, $4)",
        [(doctor_id, *w) for w in windows],
    )


async def live_future(conn: Conn, doctor_id: int, now: datetime) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """select id, starts_at, ends_at from appointments
           where doctor_id = $1 and starts_at > $2
             and status in ('scheduled', 'confirmed', 'checked_in')
           order by starts_at, id""",
        doctor_id,
        now,
    )
    return rows


# Time off and closures ---------------------------------------------------------------------


async def conflicts(
    conn: Conn, doctor_id: int | None, start: datetime, end: datetime, now: datetime
) -> list[int]:
    """Live appointments (of one doctor, or of all) whose blocked range meets [start, end)
    and that have not ended yet. Locked: they are about to be cancelled or reported."""
    rows = await conn.fetch(
        """select id from appointments
           where ($1::bigint is null or doctor_id = $1)
             and status in ('scheduled', 'confirmed', 'checked_in')
             and blocked && tstzrange($2, $3, '[)') and ends_at > $4
           order by starts_at, id
           for update""",
        doctor_id,
        start,
        end,
        now,
    )
    return [r["id"] for r in rows]


async def insert_time_off(
    conn: Conn, doctor_id: int, start: datetime, end: datetime, reason: str
) -> int:
    new_id: int = await conn.fetchval(
        "insert into time_off (doctor_id, period, reason) "
        "values ($1, tstzrange($2, $3, '[)'), $4) returning id",
        doctor_id,
        start,
        end,
        reason,
    )
    return new_id


async def time_off(
    conn: Conn, doctor_id: int, since: datetime | None = None
) -> list[DoctorTimeOff]:
    rows = await conn.fetch(
        """select id, doctor_id, lower(period) as start, upper(period) as "end",
                  reason from time_off
           where doctor_id = $1 and ($2::timestamptz is null or upper(period) > $2)
           order by lower(period), id""",
        doctor_id,
        since,
    )
    return [DoctorTimeOff.model_validate(dict(r)) for r in rows]


async def delete_time_off(conn: Conn, doctor_id: int, time_off_id: int) -> bool:
    found = await conn.fetchval(
        "delete from time_off where id = $1 and doctor_id = $2 returning 1",
        time_off_id,
        doctor_id,
    )
    return bool(found)


async def insert_closure(conn: Conn, start: datetime, end: datetime, reason: str) -> int:
    new_id: int = await conn.fetchval(
        "insert into closures (period, reason) values (tstzrange($1, $2, '[)'), $3) returning id",
        start,
        end,
        reason,
    )
    return new_id


async def closures(conn: Conn, since: datetime | None = None) -> list[Closure]:
    rows = await conn.fetch(
        """select id, lower(period) as start, upper(period) as "end", reason from closures
           where $1::timestamptz is null or upper(period) > $1
           order by lower(period), id""",
        since,
    )
    return [Closure.model_validate(dict(r)) for r in rows]


async def delete_closure(conn: Conn, closure_id: int) -> bool:
    return bool(await conn.fetchval("delete from closures where id = $1 returning 1", closure_id))


# Appointment types -------------------------------------------------------------------------

TYPE = """select id, department_id, name, minutes, buffer_before_minutes, buffer_after_minutes,
       patient_bookable, is_active as active
from appointment_types"""


async def types(
    conn: Conn, department_id: int | None, *, include_inactive: bool
) -> list[AppointmentType]:
    rows = await conn.fetch(
        TYPE
        + """ where ($1::bigint is null or department_id = $1) and ($2 or is_active)
        order by department_id, name, id""",
        department_id,
        include_inactive,
    )
    return [AppointmentType.model_validate(dict(r)) for r in rows]


async def appointment_type(conn: Conn, type_id: int) -> AppointmentType | None:
    row = await conn.fetchrow(TYPE + " where id = $1", type_id)
    return AppointmentType.model_validate(dict(row)) if row else None


async def insert_type(conn: Conn, department_id: int, fields: TypeFields) -> int:
    try:
        new_id: int = await conn.fetchval(
            """insert into appointment_types (department_id, name, minutes,
                   buffer_before_minutes, buffer_after_minutes, patient_bookable)
               values ($1, $2, $3, $4, $5, $6) returning id""",
            department_id,
            fields["name"],
            fields["minutes"],
            fields["buffer_before_minutes"],
            fields["buffer_after_minutes"],
            fields["patient_bookable"],
        )
    except asyncpg.UniqueViolationError as exc:
        raise _name_taken(exc) from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise UnknownReference("no such department") from exc
    return new_id


async def update_type(conn: Conn, type_id: int, changes: TypeChanges) -> bool:
    columns = {
        "name": "name",
        "minutes": "minutes",
        "buffer_before_minutes": "buffer_before_minutes",
        "buffer_after_minutes": "buffer_after_minutes",
        "patient_bookable": "patient_bookable",
        "active": "is_active",
    }
    return await _update(conn, "appointment_types", type_id, columns, changes)


async def longest_window_minutes(conn: Conn, department_id: int) -> int | None:
    """The longest working window of the department's active doctors, or None if none."""
    minutes: float | None = await conn.fetchval(
        """select max(extract(epoch from (w.end_time - w.start_time)) / 60)
           from working_hours w join doctors d on d.id = w.doctor_id
           where d.department_id = $1 and d.is_active""",
        department_id,
    )
    return None if minutes is None else int(minutes)
