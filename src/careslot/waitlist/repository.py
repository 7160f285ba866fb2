"""SQL for waitlist entries, their holds (appointments rows with status 'held') and the
freed slots the sweeper offers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from pydantic import TypeAdapter

from careslot.db import Conn
from careslot.errors import Conflict
from careslot.monitoring import metrics
from careslot.waitlist.schemas import EntryStatus, WaitlistEntry, Wish


class DuplicateEntry(Conflict):
    code, title = "waitlist_duplicate", "Already on the waitlist for that"


ENTRIES = """
select e.id, e.client_id, u.name as client_name, e.doctor_id, d.name as doctor_name,
       e.department_id, dep.name as department_name, e.type_id, t.name as type_name,
       e.first_day as "from", e.last_day as "to", e.status, e.created_at,
       case when h.id is null then null else json_build_object(
           'doctorId', h.doctor_id, 'doctorName', hd.name, 'start', h.starts_at,
           'end', h.ends_at, 'expiresAt', h.hold_expires_at) end as offer
  from waitlist_entries e
  join users u on u.id = e.client_id
  join departments dep on dep.id = e.department_id
  left join doctors d on d.id = e.doctor_id
  left join appointment_types t on t.id = e.type_id
  left join appointments h on h.waitlist_entry_id = e.id and h.status = 'held'
  left join doctors hd on hd.id = h.doctor_id
"""
_ENTRIES = TypeAdapter(list[WaitlistEntry])


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold that was made or removed: what the caches must hear about."""

    id: int
    entry_id: int | None
    client_id: int
    doctor_id: int
    department_id: int
    blocked_from: datetime
    blocked_to: datetime


def _holds(rows: list[asyncpg.Record]) -> list[Hold]:
    return [
        Hold(
            r["id"],
            r["waitlist_entry_id"],
            r["client_id"],
            r["doctor_id"],
            r["department_id"],
            r["blocked_from"],
            r["blocked_to"],
        )
        for r in rows
    ]


HOLD_COLUMNS = """id, waitlist_entry_id, client_id, doctor_id, department_id,
                  lower(blocked) as blocked_from, upper(blocked) as blocked_to"""


async def insert_entry(conn: Conn, wish: Wish, *, created_by: int, now: datetime) -> int:
    try:
        new_id: int = await conn.fetchval(
            """insert into waitlist_entries (client_id, doctor_id, department_id, type_id,
                   first_day, last_day, created_by, created_at, updated_at)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning id""",
            wish.client_id,
            wish.doctor_id,
            wish.department_id,
            wish.type_id,
            wish.first_day,
            wish.last_day,
            created_by,
            now,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateEntry("this patient already waits for exactly that") from exc
    return new_id


async def open_count(conn: Conn, client_id: int) -> int:
    count: int = await conn.fetchval(
        "select count(*) from waitlist_entries where client_id = $1 "
        "and status in ('waiting', 'offered')",
        client_id,
    )
    return count


async def entries(
    conn: Conn,
    *,
    client_id: int | None,
    doctor_id: int | None = None,
    entry_id: int | None = None,
    limit: int = 500,
) -> list[WaitlistEntry]:
    """Open and recent entries (not removed ones), newest first."""
    rows = await conn.fetch(
        ENTRIES
        + """ where e.status <> 'removed'
                and ($1::bigint is null or e.client_id = $1)
                and ($2::bigint is null or e.doctor_id = $2
                     or (e.doctor_id is null
                         and e.department_id = (select department_id from doctors
                                                 where id = $2)))
                and ($3::bigint is null or e.id = $3)
              order by e.id desc limit $4""",
        client_id,
        doctor_id,
        entry_id,
        limit,
    )
    return _ENTRIES.validate_python([dict(r) for r in rows])


async def lock_entry(conn: Conn, entry_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """select id, client_id, doctor_id, department_id, type_id, status
             from waitlist_entries where id = $1 for update""",
        entry_id,
    )


async def set_status(conn: Conn, entry_id: int, status: EntryStatus, now: datetime) -> None:
    await conn.execute(
        "update waitlist_entries set status = $2, updated_at = $3 where id = $1",
        entry_id,
        status,
        now,
    )


async def live_hold(conn: Conn, entry_id: int, now: datetime) -> asyncpg.Record | None:
    """The entry's hold that has not expired: doctor, start, and the type to book it as."""
    return await conn.fetchrow(
        """select h.doctor_id, h.starts_at, e.type_id, e.client_id
             from appointments h join waitlist_entries e on e.id = h.waitlist_entry_id
            where h.waitlist_entry_id = $1 and h.status = 'held' and h.hold_expires_at > $2""",
        entry_id,
        now,
    )


async def delete_holds_of(conn: Conn, entry_id: int) -> list[Hold]:
    rows = await conn.fetch(
        f"""delete from appointments where waitlist_entry_id = $1 and status = 'held'
            returning {HOLD_COLUMNS}""",
        entry_id,
    )
    return _holds(rows)


def note_released(statuses: list[str] | None, minutes: list[float] | None) -> None:
    """Count what the holds a booking released became (book_appointment, migration 0009,
    frees expired holds in its way and the booking patient's own): expired, declined, or
    booked, i.e. accepted, with the minutes from the slot freeing to its re-booking."""
    for status in statuses or ():
        metrics.WAITLIST_OFFERS.labels("accepted" if status == "booked" else status).inc()
    for waited in minutes or ():
        if waited is not None:
            metrics.WAITLIST_REBOOKED_MINUTES.observe(float(waited))


async def expire_holds(conn: Conn, now: datetime, *, limit: int) -> list[Hold]:
    """Delete holds past their time (each by one sweeper) and mark their entries expired."""
    rows = await conn.fetch(
        f"""delete from appointments where id in (
                select id from appointments
                 where status = 'held' and hold_expires_at <= $1
                 order by hold_expires_at limit $2
                   for update skip locked)
            returning {HOLD_COLUMNS}""",
        now,
        limit,
    )
    holds = _holds(rows)
    await conn.execute(
        """update waitlist_entries set status = 'expired', updated_at = $2
            where id = any($1::bigint[]) and status = 'offered'""",
        [h.entry_id for h in holds if h.entry_id is not None],
        now,
    )
    return holds


async def claim_freed(conn: Conn, *, limit: int) -> list[asyncpg.Record]:
    """Freed slots not yet offered, each claimed by one sweeper until its transaction ends."""
    return await conn.fetch(
        """select id, doctor_id, lower(period) as start, upper(period) as "end", freed_at
             from waitlist_freed order by id limit $1 for update skip locked""",
        limit,
    )


async def forget_freed(conn: Conn, ids: list[int]) -> None:
    await conn.execute("delete from waitlist_freed where id = any($1::bigint[])", ids)


async def waiting_doctors(conn: Conn) -> list[int]:
    """Doctors someone waits for, by name or by department."""
    rows = await conn.fetch(
        """select distinct d.id from waitlist_entries e
             join doctors d on d.id = e.doctor_id
                 or (e.doctor_id is null and d.department_id = e.department_id)
            where e.status = 'waiting' and d.is_active order by d.id"""
    )
    return [r["id"] for r in rows]


async def waiting_for(
    conn: Conn, *, doctor_id: int, department_id: int, first_day: date, last_day: date
) -> list[asyncpg.Record]:
    """Waiting entries for this doctor whose days meet [first_day, last_day], first come
    first; locked, so one offer per entry."""
    return await conn.fetch(
        """select id, client_id, type_id, first_day, last_day
             from waitlist_entries
            where status = 'waiting'
              and (doctor_id = $1 or (doctor_id is null and department_id = $2))
              and first_day <= $4 and last_day >= $3
            order by created_at, id
              for update""",
        doctor_id,
        department_id,
        first_day,
        last_day,
    )


async def insert_hold(
    conn: Conn,
    *,
    entry_id: int,
    client_id: int,
    doctor_id: int,
    department_id: int,
    start: datetime,
    end: datetime,
    type_id: int | None,
    buffer_before: int,
    buffer_after: int,
    expires_at: datetime,
    freed_at: datetime,
    now: datetime,
) -> Hold | None:
    """The hold, or None when the database refuses it (the slot was just taken, or the
    patient is busy then): a savepoint keeps the offering transaction alive."""
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"""insert into appointments
                      (client_id, doctor_id, department_id, starts_at, ends_at, status,
                       type_id, buffer_before_minutes, buffer_after_minutes, hold_expires_at,
                       waitlist_entry_id, created_at, updated_at)
                    values ($1, $2, $3, $4, $5, 'held', $6, $7, $8, $9, $10, $11, $11)
                    returning {HOLD_COLUMNS}""",
                client_id,
                doctor_id,
                department_id,
                start,
                end,
                type_id,
                buffer_before,
                buffer_after,
                expires_at,
                entry_id,
                now,
            )
    except (asyncpg.ExclusionViolationError, asyncpg.DeadlockDetectedError):
        return None  # a deadlock here is a booking inserting at the same time: it stands
    assert row is not None
    await conn.execute(
        """update waitlist_entries set status = 'offered', updated_at = $2, offer_freed_at = $3
            where id = $1""",
        entry_id,
        now,
        freed_at,
    )
    await conn.execute("select outbox_waitlist_offered($1, $2)", row["id"], now)
    return _holds([row])[0]


async def stored_answer(conn: Conn, *, user_id: int, key: str) -> asyncpg.Record | None:
    """The answer a finished request with this Idempotency-Key gave (an accept repeated
    after its hold is gone must still get it)."""
    return await conn.fetchrow(
        "select request_hash, response from idempotency_keys "
        "where user_id = $1 and key = $2 and status_code <> 0",
        user_id,
        key,
    )


async def drop_holds_in(
    conn: Conn, *, doctor_id: int | None, start: datetime, end: datetime, now: datetime
) -> list[Hold]:
    """Holds that a new time off (of one doctor) or closure (doctor_id None) makes
    unbookable: deleted, and their entries wait again (nobody declined anything)."""
    rows = await conn.fetch(
        f"""delete from appointments
             where status = 'held' and ($1::bigint is null or doctor_id = $1)
               and blocked && tstzrange($2, $3, '[)')
            returning {HOLD_COLUMNS}""",
        doctor_id,
        start,
        end,
    )
    holds = _holds(rows)
    await conn.execute(
        """update waitlist_entries set status = 'waiting', updated_at = $2, offer_freed_at = null
            where id = any($1::bigint[]) and status = 'offered'""",
        [h.entry_id for h in holds if h.entry_id is not None],
        now,
    )
    return holds
