"""The outbox backlog behind /metrics: counted up to a cap, so mail held for months (no
transport configured) does not make every count read all of it; the oldest is exact."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

from careslot.messages import repository as repo

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


async def _backlogs(database_url: str) -> list[tuple[int, dt.datetime | None]]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """insert into outbox (channel, template, recipient, payload, due_at, status,
                                   next_attempt_at)
               select 'email', 'booked', 'p@x.test', '{}'::jsonb,
                      $1::timestamptz - make_interval(mins => n),
                      case when n % 2 = 0 then 'held' else 'pending' end, $1::timestamptz
                 from generate_series(1, 5) as n
               union all  -- not due yet, and already sent: neither counts
               select 'email', 'reminder', 'p@x.test', '{}', $1 + interval '1 day', 'pending',
                      $1 + interval '1 day'
               union all
               select 'email', 'booked', 'p@x.test', '{}', $1 - interval '1 day', 'sent', null""",
            NOW,
        )
        return [await repo.backlog(conn, NOW, cap=cap) for cap in (3, 10)]
    finally:
        await conn.close()


def test_the_backlog_is_counted_up_to_its_cap_and_its_oldest_is_exact(database_url: str) -> None:
    capped, whole = asyncio.run(_backlogs(database_url))
    oldest = NOW - dt.timedelta(minutes=5)
    assert capped == (3, oldest)
    assert whole == (5, oldest)
