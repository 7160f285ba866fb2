"""SQL for departments, doctors, working hours and what makes a doctor busy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from careslot.db import Conn
from careslot.scheduling.slots import WorkingWindow


async def departments(conn: Conn) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select id, name, color, description from departments where is_active order by name"
    )
    return [dict(r) for r in rows]


async def doctors(conn: Conn, department_id: int | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """select id, name, department_id as "departmentId", specialty,
                  slot_minutes as "slotMinutes"
           from doctors where is_active and ($1::bigint is null or department_id = $1)
             and department_id in (select id from departments where is_active)
           order by name, id""",
        department_id,
    )
    return [dict(r) for r in rows]


async def doctor(conn: Conn, doctor_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """select id, user_id, department_id, name, specialty, slot_minutes
           from doctors where id = $1 and is_active""",
        doctor_id,
    )


async def doctor_ids_in_department(conn: Conn, department_id: int) -> list[int]:
    rows = await conn.fetch(
        "select id from doctors where is_active and department_id = $1 order by id",
        department_id,
    )
    return [r["id"] for r in rows]


async def schedules(conn: Conn, doctor_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Name, department, slot length and weekly windows of each active doctor."""
    rows = await conn.fetch(
        """select d.id, d.name, d.department_id, d.slot_minutes,
                  coalesce(array_agg(w.weekday) filter (where w.id is not null), '{}') as weekdays,
                  coalesce(array_agg(w.start_time) filter (where w.id is not null), '{}') as starts,
                  coalesce(array_agg(w.end_time) filter (where w.id is not null), '{}') as ends
           from doctors d left join working_hours w on w.doctor_id = d.id
           join departments dep on dep.id = d.department_id and dep.is_active
           where d.id = any($1::bigint[]) and d.is_active
           group by d.id""",
        doctor_ids,
    )
    return {
        r["id"]: {
            "name": r["name"],
            "department_id": r["department_id"],
            "slot_minutes": r["slot_minutes"],
            "windows": [
                WorkingWindow(wd, s, e)
                for wd, s, e in zip(r["weekdays"], r["starts"], r["ends"], strict=True)
            ],
        }
        for r in rows
    }


async def busy_intervals(
    conn: Conn, doctor_ids: list[int], start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """What blocks each doctor over [start, end): live appointments with their buffers,
    time off and closures."""
    rows = await conn.fetch(
        """select doctor_id, lower(blocked) as s, upper(blocked) as e from appointments
           where doctor_id = any($1::bigint[]) and status <> 'cancelled'
             and blocked && tstzrange($2, $3, '[)')
           union all
           select doctor_id, lower(period), upper(period) from time_off
           where doctor_id = any($1::bigint[]) and period && tstzrange($2, $3, '[)')
           union all
           select null, lower(period), upper(period) from closures
           where period && tstzrange($2, $3, '[)')""",
        doctor_ids,
        start,
        end,
    )
    out: dict[int, list[tuple[datetime, datetime]]] = {d: [] for d in doctor_ids}
    closures = [(r["s"], r["e"]) for r in rows if r["doctor_id"] is None]
    for r in rows:
        if r["doctor_id"] is not None:
            out[r["doctor_id"]].append((r["s"], r["e"]))
    for intervals in out.values():
        intervals.extend(closures)
    return out


async def blocked_intervals(
    conn: Conn, doctor_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Time off and closures only (not appointments): what makes a time no slot at all."""
    rows = await conn.fetch(
        """select lower(period) as s, upper(period) as e from time_off
           where doctor_id = $1 and period && tstzrange($2, $3, '[)')
           union all
           select lower(period), upper(period) from closures
           where period && tstzrange($2, $3, '[)')""",
        doctor_id,
        start,
        end,
    )
    return [(r["s"], r["e"]) for r in rows]


async def schedule_view(
    conn: Conn, doctor_id: int, start: datetime, end: datetime
) -> dict[str, Any]:
    hours = await conn.fetch(
        """select weekday, start_time, end_time from working_hours
           where doctor_id = $1 order by weekday, start_time""",
        doctor_id,
    )
    off = await conn.fetch(
        """select id, lower(period) as start, upper(period) as "end", reason from time_off
           where doctor_id = $1 and period && tstzrange($2, $3, '[)') order by lower(period)""",
        doctor_id,
        start,
        end,
    )
    return {
        "workingHours": [
            {
                "weekday": h["weekday"],
                "start": h["start_time"].strftime("%H:%M"),
                "end": h["end_time"].strftime("%H:%M"),
            }
            for h in hours
        ],
        "timeOff": [dict(o) for o in off],
    }
