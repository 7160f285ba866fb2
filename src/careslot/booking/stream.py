"""Every appointment as NDJSON batches from a server-side cursor, in constant memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg

from careslot import access, jsonutil
from careslot.accounts.models import User
from careslot.booking.repository import SELECT, appointments_from
from careslot.db.failures import UNAVAILABLE

if TYPE_CHECKING:
    from careslot.context import Context

BATCH = 100


def ndjson(ctx: Context, *, actor: User) -> AsyncIterator[bytes]:
    """The stream for staff (refused before it starts for anyone else; audited once)."""
    access.staff_only(actor, "the appointment stream")
    ctx.audit.read(actor_id=actor.id, subject_id=None, entity="appointment_stream")
    return _batches(ctx)


async def _batches(ctx: Context) -> AsyncIterator[bytes]:
    """From the read replica when it is close enough (db/replica.py), else the primary; a
    replica that fails before the first line is skipped for the primary."""
    reads = ctx.lagging_reads
    replica = reads.replica_pool()
    if replica is not None:
        started = False
        try:
            async for line in _lines(replica):
                started = True
                yield line
        except UNAVAILABLE as exc:
            if started:
                raise
            reads.failed(exc)
        else:
            reads.served("replica")
            return
    async for line in _lines(ctx.pool):
        yield line
    reads.served("primary")


async def _lines(pool: asyncpg.Pool) -> AsyncIterator[bytes]:
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = await conn.cursor(
            SELECT + " where a.status <> 'held' order by a.starts_at desc, a.id desc"
        )
        while True:
            rows = await cursor.fetch(BATCH)
            if not rows:
                return
            yield jsonutil.dumps({"data": appointments_from(rows)}) + b"\n"
