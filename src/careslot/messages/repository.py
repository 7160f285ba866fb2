"""SQL for the outbox: claim due rows (locked while they are sent), record what happened."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from careslot.db import Conn
from careslot.messages.schemas import OutboxMessage

# The row stays locked until the sender's transaction ends: a second sender skips it, and
# a sender that dies mid-send (connection gone) releases it still pending, to be sent again.
CLAIM = """
select o.id, o.channel, o.template, o.appointment_id, o.recipient, o.payload, o.due_at,
       o.attempts, o.message_id, o.sequence, w.secret as webhook_secret,
       (o.template = 'reminder' and not exists (
           select 1 from appointments a join users u on u.id = a.client_id
            where a.id = o.appointment_id and u.reminders
              and a.status in ('scheduled', 'confirmed'))) as stale
  from outbox o left join webhooks w on w.id = o.webhook_id
 where o.status = 'pending' and o.next_attempt_at <= $1
 order by o.next_attempt_at, o.id
 limit $2
   for update of o skip locked
"""


async def claim(conn: Conn, now: datetime, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM, now, limit)


async def mark_sent(conn: Conn, outbox_id: int, now: datetime) -> None:
    await conn.execute(
        "update outbox set status = 'sent', sent_at = $2, attempts = attempts + 1, "
        "next_attempt_at = null, last_error = null where id = $1",
        outbox_id,
        now,
    )


async def mark_retry(conn: Conn, outbox_id: int, error: str, at: datetime) -> None:
    await conn.execute(
        "update outbox set attempts = attempts + 1, last_error = $2, next_attempt_at = $3 "
        "where id = $1",
        outbox_id,
        error[:1000],
        at,
    )


async def mark_done(conn: Conn, outbox_id: int, status: str, error: str, *, tried: bool) -> None:
    """failed (tried: the attempt counts) or skipped (not tried)."""
    await conn.execute(
        "update outbox set status = $2, last_error = $3, next_attempt_at = null, "
        "attempts = attempts + $4 where id = $1",
        outbox_id,
        status,
        error[:1000],
        int(tried),
    )


async def hold_due_mail(conn: Conn, now: datetime) -> int:
    """No transport: due mail is kept as held (visible to staff), never dropped."""
    done: str = await conn.execute(
        "update outbox set status = 'held', last_error = 'no mail transport configured' "
        "where channel = 'email' and status = 'pending' and next_attempt_at <= $1",
        now,
    )
    return int(done.rsplit(" ", 1)[-1])


async def release_held(conn: Conn) -> None:
    """A transport is configured (again): held mail goes out."""
    await conn.execute(
        "update outbox set status = 'pending', last_error = null where status = 'held'"
    )


async def next_due(conn: Conn) -> datetime | None:
    due: datetime | None = await conn.fetchval(
        "select min(next_attempt_at) from outbox where status = 'pending'"
    )
    return due


async def backlog(conn: Conn, now: datetime, *, cap: int) -> tuple[int, datetime | None]:
    """Due and not yet delivered (pending, retrying, or held): how many, counted up to `cap`,
    and the oldest due time. Held mail piles up for as long as no transport is configured
    (the zero-set-up default), and counting 95,000 held rows took 160-300 ms of a core every
    two seconds; up to the cap the count stays a few milliseconds, and the oldest is the
    index's first entry."""
    row = await conn.fetchrow(
        """select (select count(*) from (select 1 from outbox
                                          where status in ('pending', 'held') and due_at <= $1
                                          limit $2) waiting) as depth,
                  (select min(due_at) from outbox
                    where status in ('pending', 'held') and due_at <= $1) as oldest""",
        now,
        cap,
    )
    assert row is not None
    return int(row["depth"]), row["oldest"]


async def listing(
    conn: Conn, *, appointment_id: int | None, status: str | None, limit: int
) -> list[OutboxMessage]:
    rows = await conn.fetch(
        """select id, recipient as "to", template, channel, appointment_id, due_at, status,
                  attempts, last_error, sent_at, message_id
             from outbox
            where ($1::bigint is null or appointment_id = $1)
              and ($2::text is null or status = $2)
            order by id desc
            limit $3""",
        appointment_id,
        status,
        limit,
    )
    return [OutboxMessage.model_validate(dict(r)) for r in rows]
