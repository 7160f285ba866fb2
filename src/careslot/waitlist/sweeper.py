"""The waitlist sweeper: started in every worker's lifespan, like the outbox sender.

It LISTENs for the NOTIFY that the trigger on a freed slot sends at commit, so an offer is
made within milliseconds of a cancellation, and otherwise looks every
CARESLOT_WAITLIST_POLL_SECONDS for holds past their time (by the context's clock). Freed
slots and expired holds are claimed with FOR UPDATE SKIP LOCKED, and offers per doctor are
serialised by an advisory lock (waitlist/offers.py), so several workers or nodes sweep at
once without ever making two offers of one slot; a freed slot whose offering transaction
died is still in waitlist_freed and is offered on the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg

from careslot.context import Context
from careslot.db.pool import _init_connection, dedicated_connection
from careslot.messages.sender import CONNECTION_ERRORS
from careslot.monitoring import metrics
from careslot.waitlist import offers
from careslot.waitlist import repository as repo
from careslot.waitlist.service import announce

log = logging.getLogger("careslot.waitlist.sweeper")
NOTIFY_CHANNEL = "careslot_waitlist"
EXPIRE_BATCH = 100


@dataclass(frozen=True, slots=True)
class Pass:
    expired: int
    offered: int
    more: bool  # a batch was full: another pass has work


async def sweep_once(ctx: Context) -> Pass:
    """One pass in one transaction: expire due holds, then offer freed slots (theirs
    included)."""
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        expired = await repo.expire_holds(conn, now, limit=EXPIRE_BATCH)
        offering = await offers.offer_freed(ctx, conn, now=now)
    metrics.WAITLIST_OFFERS.labels("expired").inc(len(expired))
    metrics.WAITLIST_OFFERS.labels("made").inc(len(offering.holds))
    await announce(ctx, [*expired, *offering.holds])
    more = len(expired) == EXPIRE_BATCH or offering.freed == offers.FREED_BATCH
    return Pass(len(expired), len(offering.holds), more)


async def sweep(ctx: Context) -> int:
    """Passes until nothing is left; returns the offers made."""
    made = 0
    while True:
        done = await sweep_once(ctx)
        made += done.offered
        if not done.more:
            return made


class Sweeper:
    def __init__(self, ctx: Context, database_url: str) -> None:
        self.ctx = ctx
        self.database_url = database_url
        self._listen: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="careslot-waitlist-sweeper")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)
            self._task = None
        await self._disconnect()

    def wake(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._listening()
                await sweep(self.ctx)
            except CONNECTION_ERRORS as exc:
                log.warning("waitlist sweeper lost its connection: %s", exc)
                await self._disconnect()
            except asyncpg.PostgresError as exc:
                log.warning("waitlist sweeper: %s", exc)
            except Exception:
                log.exception("waitlist sweeper: unexpected error; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.ctx.settings.waitlist_poll_seconds)
            self._wake.clear()

    async def _listening(self) -> None:
        if self._listen is None or self._listen.is_closed():
            self._listen = await dedicated_connection(
                self.database_url,
                self._ready,
                timeout=10,
                server_settings={"application_name": "careslot-waitlist-sweeper"},
            )

    async def _ready(self, conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        await conn.add_listener(NOTIFY_CHANNEL, self.wake)

    async def _disconnect(self) -> None:
        conn, self._listen = self._listen, None
        if conn is not None:
            with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()
