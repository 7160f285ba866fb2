"""SQL for the patient dashboard (one round trip) and the activity feed."""

from __future__ import annotations

from datetime import datetime

from careslot.dashboard.schemas import ActivityItem, DashboardStats
from careslot.db import Conn

# Per-patient figures come from the appointments table itself, not the 30-second
# materialized view: a patient must see their own booking the moment it is made.
STATS = """
select
  count(*) filter (where a.starts_at >= $2 and a.status in ('scheduled', 'confirmed', 'checked_in'))
    as upcoming_count,
  count(*) filter (where a.starts_at >= $3 and a.starts_at < $4) as total_month_count,
  count(*) filter (where a.status = 'completed') as completed_count,
  min(a.starts_at) filter (where a.starts_at >= $2
                           and a.status in ('scheduled', 'confirmed', 'checked_in'))
    as next_appointment_date,
  (select coalesce(json_agg(r order by r.date desc, r.id desc), '[]'::json)
   from (select a5.id, a5.starts_at as date, a5.status, d.name as department_name,
                d.color as department_color
         from appointments a5 join departments d on d.id = a5.department_id
         where a5.client_id = $1 and a5.status <> 'held'
         order by a5.starts_at desc, a5.id desc
         limit 5) r) as recent_appointments
from appointments a
where a.client_id = $1 and a.status <> 'held'
"""


async def stats(
    conn: Conn,
    client_id: int,
    now: datetime,
    month_start: datetime,
    month_end: datetime,
) -> DashboardStats:
    row = await conn.fetchrow(STATS, client_id, now, month_start, month_end)
    assert row is not None  # an aggregate without GROUP BY always yields one row
    return DashboardStats.model_validate(dict(row))  # the pool decodes json_agg


async def activity(conn: Conn, client_id: int | None, limit: int) -> list[ActivityItem]:
    rows = await conn.fetch(
        """select id, at, client_id, appointment_id, kind, summary
           from activity where ($1::bigint is null or client_id = $1)
           order by at desc, id desc limit $2""",
        client_id,
        limit,
    )
    return [ActivityItem.model_validate(dict(r)) for r in rows]


async def is_patient(conn: Conn, user_id: int) -> bool:
    role = await conn.fetchval("select role from users where id = $1", user_id)
    return bool(role == "patient")
