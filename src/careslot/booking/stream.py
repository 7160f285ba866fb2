"""Every appointment as NDJSON batches from a server-side cursor, in constant memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from careslot import jsonutil
from careslot.booking.repository import SELECT

BATCH = 100


async def ndjson(pool: asyncpg.Pool) -> AsyncIterator[bytes]:
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = await conn.cursor(SELECT + " order by a.starts_at desc, a.id desc")
        while True:
            rows = await cursor.fetch(BATCH)
            if not rows:
                return
            yield jsonutil.dumps({"data": [dict(r) for r in rows]}) + b"\n"
