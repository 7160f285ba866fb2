"""The audit log: who read or changed whose record, and the outcome.

Changes are written inside the transaction that makes them. Reads are buffered and
written in batches by a background task (COPY), so auditing a read costs the request
nothing but an append.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import asyncpg

from careslot.clock import Clock, SystemClock
from careslot.db import Conn
from careslot.db.failures import DATABASE_ERRORS

log = logging.getLogger("careslot.audit")

COLUMNS = ("at", "actor_id", "subject_id", "action", "entity", "entity_id", "outcome")
Row = tuple[datetime, int | None, int | None, str, str, int | None, str]


async def record_change(
    conn: Conn,
    *,
    actor_id: int | None,
    subject_id: int | None,
    action: str,
    entity: str,
    entity_id: int | None,
    outcome: str = "ok",
    doctor_id: int | None = None,
) -> None:
    """One change, in the caller's transaction; `doctor_id` says which doctor's schedule
    an admin change was about."""
    await conn.execute(
        """insert into audit_log (actor_id, subject_id, action, entity, entity_id, outcome,
                                  doctor_id)
           values ($1, $2, $3, $4, $5, $6, $7)""",
        actor_id,
        subject_id,
        action,
        entity,
        entity_id,
        outcome,
        doctor_id,
    )


class AuditLog:
    def __init__(
        self, pool: asyncpg.Pool, flush_seconds: float = 0.5, clock: Clock | None = None
    ) -> None:
        self._pool = pool
        self._clock = clock or SystemClock()
        self._buffer: list[Row] = []
        self._flush_seconds = flush_seconds
        self._task: asyncio.Task[None] | None = None

    def read(
        self,
        *,
        actor_id: int | None,
        subject_id: int | None,
        entity: str,
        entity_id: int | None = None,
        outcome: str = "ok",
    ) -> None:
        self._buffer.append(
            (self._clock.now(), actor_id, subject_id, "read", entity, entity_id, outcome)
        )

    async def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        try:
            async with self._pool.acquire() as conn:
                await conn.copy_records_to_table("audit_log", records=rows, columns=COLUMNS)
        except DATABASE_ERRORS:
            log.warning("audit flush failed; keeping %d rows for the next try", len(rows))
            self._buffer[:0] = rows

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-flush")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
