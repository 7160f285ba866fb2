"""The outbox sender: started in every worker's lifespan; each due row is sent by one.

A sender keeps one dedicated connection. It LISTENs for the NOTIFY a booking transaction
sends at commit (so a new message leaves within milliseconds) and otherwise looks every
CARESLOT_OUTBOX_POLL_SECONDS for rows that came due (reminders, retries) by the context's
clock. Each row is claimed with FOR UPDATE SKIP LOCKED and stays locked while it is sent, so
several workers or nodes never send one row twice; if the sender dies mid-send its
connection ends, the lock goes, and the row is sent again later with the same Message-ID.

One sender sends at a time, across every worker and node (SPEC section 11): each holds a
session-level advisory lock (LOCK_KEY) on its dedicated connection while it leads; the
others keep that connection and try the lock at every poll, so when the leader's process
dies its connection ends, PostgreSQL releases the lock, and the next sender to poll takes
over within CARESLOT_OUTBOX_POLL_SECONDS. Behind PgBouncer this connection must be direct
(DATABASE_DIRECT_URL): a session lock on a pooled connection would belong to whoever gets
that server connection next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

import asyncpg
import httpx

from careslot.clock import SystemClock
from careslot.config import Settings
from careslot.db.pool import LEADER_KEEPALIVES, _init_connection, dedicated_connection
from careslot.messages import content, webhooks
from careslot.messages import repository as repo
from careslot.messages.outbox import NOTIFY_CHANNEL
from careslot.messages.schemas import Notice
from careslot.messages.transport import DeliveryFailed, Mailer, parse_smtp_url
from careslot.monitoring import metrics

log = logging.getLogger("careslot.messages.sender")
MAX_BACKOFF = timedelta(hours=1)
LOCK_KEY = 0x63_61_72_65_6F_62  # "careob": the sending leader's advisory lock (per database)
OBSERVE_SECONDS = 2.0  # how often the leading sender counts the backlog for /metrics
BACKLOG_CAP = 10_000  # the depth gauge counts up to this; more reads as this many
DRAIN_EVERY = 0.05  # seconds: a burst of wake-ups is one drain per this, not one per commit
BATCH = 20  # rows claimed per transaction
CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


def backoff(settings: Settings, attempts: int) -> timedelta:
    """After the n-th failed attempt: base * 2^(n-1), at most an hour."""
    delay = timedelta(seconds=settings.outbox_retry_seconds * 2 ** min(attempts - 1, 20))
    return min(delay, MAX_BACKOFF)


class Sender:
    def __init__(self, database_url: str, settings: Settings, now: Callable[[], datetime]) -> None:
        self.database_url = database_url
        self.settings = settings
        self.now = now
        self.node = settings.node[:32]
        self.mailer = (
            Mailer(
                parse_smtp_url(settings.smtp_url),
                timeout=settings.smtp_timeout_seconds,
                ca_file=settings.smtp_ca_file,
            )
            if settings.smtp_url
            else None
        )
        self.http = httpx.AsyncClient(
            follow_redirects=False,
            timeout=settings.webhook_timeout_seconds,
            headers={"user-agent": "careslot-webhooks"},
        )
        self._conn: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batch = BATCH
        self.leader = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="careslot-outbox-sender")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            # A client library may turn the cancellation into its own error (a send that
            # failed): the loop then sees _stopping. Never wait long for it either way.
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)
            self._task = None
        await self._disconnect()
        if self.mailer is not None:
            await self.mailer.close()
        await self.http.aclose()

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def _run(self) -> None:
        observed = 0.0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self.drain()
                if time.monotonic() - observed >= OBSERVE_SECONDS:
                    await self.observe()
                    observed = time.monotonic()
            except CONNECTION_ERRORS as exc:
                log.warning("outbox sender lost its connection: %s", exc)
                await self._disconnect()
            except asyncpg.PostgresError as exc:
                log.warning("outbox sender: %s", exc)
            except Exception:
                log.exception("outbox sender: unexpected error; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.outbox_poll_seconds)
            # Every booking's commit wakes every sender: in a burst, drain at most every
            # DRAIN_EVERY seconds, so one drain sends what many commits wrote.
            await asyncio.sleep(max(0.0, started + DRAIN_EVERY - time.monotonic()))
            self._wake.clear()

    async def drain(self) -> int:
        """Send everything due now; returns how many rows were handled."""
        conn = await self._connection()
        if not await self._lead(conn):
            return 0
        handled = 0
        if self.mailer is None:
            handled += await repo.hold_due_mail(conn, self.now())
        while not self._stopping and (sent := await self.send_batch(conn)):
            handled += sent
        return handled

    async def _lead(self, conn: asyncpg.Connection) -> bool:
        """Lead if nobody else does; once taken, the lock stays until the connection ends."""
        if not self.leader:
            self.leader = bool(await conn.fetchval("select pg_try_advisory_lock($1)", LOCK_KEY))
            if self.leader:
                log.info("this process sends the outbox")
                metrics.LEADER.labels("outbox_sender").set(1)
        return self.leader

    async def send_batch(self, conn: asyncpg.Connection) -> int:
        """Claim up to BATCH due rows in one transaction and handle them one by one.

        Their outcomes commit together: a crash mid-batch leaves them all pending, so each
        may go out once more (same Message-ID), never less. One transaction per batch instead
        of per row is what lets a sender drain a backlog at SMTP speed."""
        async with conn.transaction():
            now = self.now()
            rows = await repo.claim(conn, now, limit=self.batch)
            handled = 0
            for row in rows:
                if self._stopping:
                    break
                await self._handle(conn, row, now)
                handled += 1
        return handled

    async def _handle(self, conn: asyncpg.Connection, row: asyncpg.Record, now: datetime) -> None:
        if row["stale"]:
            await repo.mark_done(
                conn,
                row["id"],
                "skipped",
                "appointment or patient no longer wants this reminder",
                tried=False,
            )
            return
        if row["channel"] == "email" and self.mailer is None:
            await repo.hold_due_mail(conn, now)
            return
        try:
            await self._deliver(row, now)
        except DeliveryFailed as exc:
            await self._failed(conn, row, str(exc), permanent=exc.permanent, now=now)
        except Exception as exc:  # a bug must not stop the queue: record it, back off
            log.exception("outbox %s %s: unexpected error", row["channel"], row["id"])
            await self._failed(conn, row, f"internal error: {exc!r}", permanent=False, now=now)
        else:
            await repo.mark_sent(conn, row["id"], self.now())
            metrics.OUTBOX_SENT.labels(row["channel"]).inc()

    async def _deliver(self, row: asyncpg.Record, now: datetime) -> None:
        if row["channel"] == "webhook":
            if row["webhook_secret"] is None:
                raise DeliveryFailed("webhook deleted", permanent=True)
            await webhooks.deliver(
                self.http,
                url=row["recipient"],
                secret=row["webhook_secret"],
                message_id=row["message_id"],
                payload=row["payload"],
                now=now,
                allow_private=self.settings.webhook_allow_private,
            )
            return
        try:
            # Rendering and flattening a mail is a few milliseconds of CPU: done in a thread,
            # so the worker's event loop keeps answering requests meanwhile.
            data = await asyncio.to_thread(self._render, row, now)
        except content.BadAddress as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        assert self.mailer is not None
        await self.mailer.send(
            sender=parseaddr(self.settings.mail_from)[1], recipient=row["recipient"], data=data
        )

    def _render(self, row: asyncpg.Record, now: datetime) -> bytes:
        return content.build_mail(
            template=row["template"],
            recipient=row["recipient"],
            appointment=Notice.model_validate(row["payload"]),
            message_id=row["message_id"],
            sequence=row["sequence"],
            mail_from=self.settings.mail_from,
            zone=self.settings.zone,
            now=now,
            public_url=self.settings.public_url,
        ).as_bytes()

    async def _failed(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        error: str,
        *,
        permanent: bool,
        now: datetime,
    ) -> None:
        give_up = row["due_at"] + timedelta(hours=self.settings.outbox_give_up_hours)
        retry_at = now + backoff(self.settings, row["attempts"] + 1)
        if permanent or retry_at > give_up:
            await repo.mark_done(conn, row["id"], "failed", error, tried=True)
            metrics.OUTBOX_FAILED.labels(row["channel"]).inc()
            log.warning("outbox %s %s failed for good: %s", row["channel"], row["id"], error)
        else:
            await repo.mark_retry(conn, row["id"], error, retry_at)
            metrics.OUTBOX_RETRIES.labels(row["channel"]).inc()
            log.info("outbox %s %s retried at %s: %s", row["channel"], row["id"], retry_at, error)

    async def observe(self) -> None:
        """The backlog on /metrics, from the one sender that leads (every worker counting it
        was the same query several times, and a sum over workers counted it several times)."""
        if not self.leader:
            return
        conn = await self._connection()
        now = self.now()
        depth, oldest = await repo.backlog(conn, now, cap=BACKLOG_CAP)
        metrics.OUTBOX_DEPTH.set(depth)
        metrics.OUTBOX_OLDEST_SECONDS.set(
            max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        )

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await dedicated_connection(
                self.database_url,
                self._ready,
                timeout=10,
                server_settings={
                    "application_name": f"careslot-outbox-sender {self.node}",
                    **LEADER_KEEPALIVES,
                },
            )
        return self._conn

    async def _ready(self, conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        await conn.add_listener(NOTIFY_CHANNEL, self.wake)
        if self.mailer is not None:
            await repo.release_held(conn)

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if self.leader:
            self.leader = False
            metrics.LEADER.labels("outbox_sender").set(0)
        if conn is not None:
            with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()


async def run_alone(database_url: str, settings: Settings) -> None:
    """`careslot sender`: a sender on its own, for web workers run with
    CARESLOT_OUTBOX_SENDER=false (its own process, so mail never takes their CPU time)."""
    sender = Sender(database_url, settings, now=SystemClock().now)
    sender.start()
    try:
        await asyncio.Event().wait()
    finally:
        await sender.stop()
