"""The hook booking calls inside its transaction: write the messages a change causes; and
the waker that tells the senders after the commit.

One round trip (the SQL function outbox_appointment_changed, migrations 0004-0014) writes
the patient's mail, the reminders, and the webhook deliveries. Nothing here talks to a mail
server, so a booking never waits for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from careslot.context import Context
from careslot.db import Conn
from careslot.db.failures import DATABASE_ERRORS
from careslot.events import Change

log = logging.getLogger("careslot.messages.outbox")

# A booking service's change kind -> the event it tells people about.
EVENTS = {"booked": "booked", "rescheduled": "rescheduled", "cancelled": "cancelled"}
NOTIFY_CHANNEL = "careslot_outbox"


async def appointment_changed(conn: Conn, ctx: Context, *, appointment_id: int, kind: str) -> None:
    """`kind` is booked, rescheduled, cancelled, or the appointment's new status."""
    await conn.execute(
        "select outbox_appointment_changed($1, $2, $3, $4)",
        appointment_id,
        EVENTS.get(kind, "status_changed"),
        ctx.clock.now(),
        list(ctx.settings.reminder_offsets),
    )


async def schedule_changed(conn: Conn, ctx: Context, *, doctor_id: int | None, change: str) -> None:
    """A doctor's hours or time off, or a hospital closure (doctor_id None), changed:
    `schedule.changed` webhook deliveries, in the change's transaction."""
    await conn.execute(
        "select outbox_schedule_changed($1, $2, $3)", doctor_id, change, ctx.clock.now()
    )


class Waker:
    """Wakes every sender (of every process and node) after a change committed, with at most
    one NOTIFY per `every` seconds from this process.

    Not from inside the change's transaction: PostgreSQL serialises the commits of all
    transactions that NOTIFY on one lock, held through each commit's WAL flush, so bookings
    that NOTIFYd could not share a flush (migration 0014). A sender drains at most every 50
    ms anyway, and polls every CARESLOT_OUTBOX_POLL_SECONDS, so a lost wake only delays mail
    until the next poll."""

    def __init__(self, pool: asyncpg.Pool, *, every: float = 0.05) -> None:
        self.pool, self.every = pool, every
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._sent_at = float("-inf")

    async def on_change(self, change: Change) -> None:
        """A ChangeBus listener: returns at once; the NOTIFY goes from a task."""
        if self._task is not None and not self._task.done():
            self._again = True  # the running task sends once more after its pause
            return
        self._task = asyncio.get_running_loop().create_task(self._send(), name="outbox-wake")

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.0, self._sent_at + self.every - loop.time()))
            self._again = False
            try:
                async with self.pool.acquire() as conn:
                    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
            except DATABASE_ERRORS as exc:  # the senders' poll finds the messages
                log.warning("could not wake the outbox senders: %s", exc)
            self._sent_at = loop.time()
            if not self._again:
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
