"""A cancel or a reschedule skips its appointment's live reminders by reading that
appointment's outbox rows only (migration 0015), never the index of every waiting message.

Before, with no statistics on the outbox (PostgreSQL's autovacuum off, or a young table), the
planner ANDed `outbox_appointment_idx` with `outbox_waiting_idx` and so read one index entry
per waiting message: 0.5 ms of every cancel with 13,000 mails held (auto_explain on the bench
database), growing with the backlog."""

from __future__ import annotations

import asyncio

import asyncpg

WAITING = 5_000  # held mails of nobody in particular: a backlog that the planner sees


async def _waiting_index_scans(url: str, event: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            appointment = await conn.fetchval(
                "select id from appointments where status in ('scheduled', 'confirmed') "
                "order by id limit 1"
            )
            await conn.execute(
                "insert into outbox (channel, template, recipient, payload, due_at, status,"
                " next_attempt_at) select 'email', 'booked', 'someone@example.org', '{}',"
                " now(), 'held', now() from generate_series(1, $1)",
                WAITING,
            )
            if event == "cancelled":  # as change_appointment leaves it before this call
                await conn.execute(
                    "update appointments set status = 'cancelled' where id = $1", appointment
                )
            await conn.execute(
                "select outbox_appointment_changed($1, $2, now(), '{24 hours}'::interval[])",
                appointment,
                event,
            )
            scans = await conn.fetchval(
                "select pg_stat_get_xact_numscans('outbox_waiting_idx'::regclass)"
            )
            return int(scans)
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


def test_a_cancel_and_a_reschedule_skip_reminders_without_reading_every_waiting_message(
    database_url: str,
) -> None:
    for event in ("cancelled", "rescheduled"):
        assert asyncio.run(_waiting_index_scans(database_url, event)) == 0, event
