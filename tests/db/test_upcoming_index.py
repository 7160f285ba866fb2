"""The booking limit's count reads only live rows (migration 0013): a patient's cancelled
appointments, however many, are never read to count the live ones."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

COUNT = """select count(*) from appointments where client_id = $1 and starts_at > $2
           and status in ('scheduled', 'confirmed', 'checked_in')"""


async def _plan(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("set enable_seqscan = off")  # a tiny test table: ask for an index
        rows = await conn.fetch("explain (costs off) " + COUNT, 1, dt.datetime.now(dt.UTC))
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


def test_the_booking_limit_counts_through_the_live_rows_index(database_url: str) -> None:
    plan = asyncio.run(_plan(database_url))
    assert "appointments_client_upcoming_idx" in plan, plan
    assert "Filter" not in plan, plan  # no row read only to be thrown away
