"""What people ask of messages: staff read the outbox, patients turn reminders off, and
everyone with appointments gets a private calendar feed behind a rotating secret URL."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import icalendar

from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.context import Context
from careslot.errors import Forbidden, NotFound, ValidationFailed
from careslot.messages import content
from careslot.messages import repository as repo
from careslot.messages.schemas import Notice, OutboxListing, Profile

STATUSES = ("pending", "sent", "failed", "held", "skipped")
FEED_PAST = timedelta(days=31)  # a feed shows the last month and everything ahead


async def messages(
    ctx: Context,
    *,
    actor: User,
    appointment_id: int | None = None,
    status: str | None = None,
    limit: int = 200,
) -> OutboxListing:
    if not actor.is_staff:
        raise Forbidden("the outbox is for staff")
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}")
    async with ctx.pool.acquire() as conn:
        items = await repo.listing(conn, appointment_id=appointment_id, status=status, limit=limit)
    ctx.audit.read(actor_id=actor.id, subject_id=None, entity="outbox")
    return OutboxListing(items=items)


async def profile(ctx: Context, *, actor: User) -> Profile:
    """The caller's account with their reminder choice, read fresh (it is not in the session)."""
    async with ctx.pool.acquire() as conn:
        reminders = await conn.fetchval("select reminders from users where id = $1", actor.id)
    return Profile(**actor.public().model_dump(), reminders=bool(reminders))


async def set_reminders(ctx: Context, *, actor: User, enabled: bool) -> Profile:
    """Only reminders stop; notices of a booking, move or cancellation still go."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("update users set reminders = $2 where id = $1", actor.id, enabled)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=actor.id,
            action=f"update:reminders:{'on' if enabled else 'off'}",
            entity="user",
            entity_id=actor.id,
        )
    return Profile(**actor.public().model_dump(), reminders=enabled)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def new_calendar_token(ctx: Context, *, actor: User) -> str:
    """A new secret for the caller's feed; the previous one stops working at once."""
    if actor.role not in ("patient", "doctor"):
        raise Forbidden("calendar feeds are for patients and doctors")
    token = secrets.token_urlsafe(32)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """insert into calendar_tokens (user_id, token_hash) values ($1, $2)
               on conflict (user_id) do update set token_hash = $2, created_at = now()""",
            actor.id,
            _hash(token),
        )
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=actor.id,
            action="rotate",
            entity="calendar_token",
            entity_id=actor.id,
        )
    return token


FEED = """
select a.id, a.starts_at, a.ends_at, a.status, d.name as "doctorName",
       dep.name as "departmentName",
       coalesce((select max(o.sequence) from outbox o where o.appointment_id = a.id), 0)
         as sequence
  from appointments a
  join doctors d on d.id = a.doctor_id
  join departments dep on dep.id = a.department_id
 where (a.client_id = $1 or a.doctor_id = $2)
   and a.status in ('scheduled', 'confirmed', 'checked_in')
   and a.starts_at >= $3
 order by a.starts_at
 limit 2000
"""


async def calendar_feed(ctx: Context, *, token: str) -> bytes:
    """The token's owner's live appointments as iCalendar; no clinical content."""
    async with ctx.pool.acquire() as conn:
        owner = await conn.fetchrow(
            """select u.id, d.id as doctor_id from calendar_tokens t
                 join users u on u.id = t.user_id and u.is_active
                 left join doctors d on d.user_id = u.id
                where t.token_hash = $1""",
            _hash(token),
        )
        if owner is None:
            raise NotFound("no such calendar")
        now = ctx.clock.now()
        rows = await conn.fetch(FEED, owner["id"], owner["doctor_id"], now - FEED_PAST)
    ctx.audit.read(actor_id=owner["id"], subject_id=owner["id"], entity="calendar_feed")
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//careslot//appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "careslot appointments")
    for row in rows:
        appointment = Notice(
            id=row["id"],
            start=row["starts_at"],
            end=row["ends_at"],
            status=row["status"],
            doctor_name=row["doctorName"],
            department_name=row["departmentName"],
        )
        content.event(calendar, appointment, sequence=row["sequence"], stamp=now)
    return bytes(calendar.to_ical())
