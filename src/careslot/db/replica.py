"""The reads that may lag go to a streaming replica while it is up and close enough.

DATABASE_REPLICA_URL names a PostgreSQL hot standby. Only reads that may be a few seconds
old use it (SPEC section 11): the NDJSON appointment stream (the export) and the hospital
figures. Bookings, slots and everything a patient reads after a change stay on the primary.

How far behind the replica is, is probed in the background, not per request: every
CARESLOT_REPLICA_PROBE_SECONDS each worker reads the primary's WAL position
(pg_current_wal_lsn) and then the replica's replayed position (pg_last_wal_replay_lsn). It
keeps the recent (time, primary position) pairs; the replica holds everything the primary
had at the newest time whose position it has replayed, so its lag is "now" minus that time.
This needs no clock agreement between servers and reads 0 on an idle primary (unlike
now() - pg_last_xact_replay_timestamp(), which grows while nothing is written). "Now" is
the context clock's, so tests move it instead of waiting. A replica that fails to answer,
is not in recovery, or lags more than CARESLOT_REPLICA_MAX_LAG_SECONDS is skipped for the
primary until a probe finds it well again; a read that fails on the replica between two
probes is retried once on the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import asyncpg

from careslot.config import Settings
from careslot.db import Conn
from careslot.db.failures import DATABASE_ERRORS, UNAVAILABLE
from careslot.monitoring import metrics

log = logging.getLogger("careslot.db.replica")
T = TypeVar("T")

PRIMARY_POSITION = "select (pg_current_wal_lsn() - '0/0')::bigint"
REPLAYED_POSITION = (
    "select pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0')::bigint as replayed"
)
HISTORY = 600  # (time, position) pairs kept: ten minutes at one probe a second


class LaggingReads:
    """Where the reads that may lag go: `run(work)` or `state` for /readyz."""

    def __init__(
        self,
        primary: asyncpg.Pool,
        replica: asyncpg.Pool | None = None,
        *,
        max_lag: float = 5.0,
        probe_every: float = 1.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.primary, self.replica = primary, replica
        self.max_lag, self.probe_every = max_lag, probe_every
        self.now = now
        self.state = "none" if replica is None else "unknown"  # ok | lagging | down
        self.lag: float | None = None
        self._positions: deque[tuple[float, int]] = deque(maxlen=HISTORY)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def create(
        cls, settings: Settings, primary: asyncpg.Pool, now: Callable[[], datetime]
    ) -> LaggingReads:
        replica = None
        if settings.database_replica_url:
            from careslot.db.pool import create_pool

            # min 0: a replica that is down at start must not keep the node from starting.
            replica = await create_pool(
                settings.model_copy(update={"pool_min": 0}),
                settings.database_replica_url,
                track=False,
            )
        return cls(
            primary,
            replica,
            max_lag=settings.replica_max_lag_seconds,
            probe_every=settings.replica_probe_seconds,
            now=now,
        )

    @property
    def usable(self) -> bool:
        return self.replica is not None and self.state == "ok"

    def start(self) -> None:
        if self.replica is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="careslot-replica-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.replica is not None:
            await self.replica.close()

    def replica_pool(self) -> asyncpg.Pool | None:
        """The replica's pool while it may serve, else None (use the primary)."""
        return self.replica if self.usable else None

    def failed(self, exc: BaseException) -> None:
        """A read on the replica failed between two probes: skip it until the next finds it well."""
        self._down(f"a read failed: {exc!r}")

    @staticmethod
    def served(target: str) -> None:
        metrics.LAGGING_READS.labels(target).inc()

    async def run(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """`work(conn)` on the replica when usable, else (or when it fails there) the primary."""
        if self.usable:
            assert self.replica is not None
            try:
                async with self.replica.acquire() as conn:
                    result = await work(conn)
                self.served("replica")
                return result
            except UNAVAILABLE as exc:
                self.failed(exc)
        async with self.primary.acquire() as conn:
            result = await work(conn)
        self.served("primary")
        return result

    async def _run(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(self.probe_every)

    async def probe(self) -> None:
        """Measure the lag once and decide whether the replica serves."""
        assert self.replica is not None
        at = (self.now() if self.now else datetime.now().astimezone()).timestamp()
        try:
            async with asyncio.timeout(max(1.0, self.probe_every)):
                position = await self.primary.fetchval(PRIMARY_POSITION)
        except DATABASE_ERRORS as exc:  # no primary, no measure: the replica stays as it was
            log.info("replica probe: the primary did not answer (%r)", exc)
            return
        self._positions.append((at, int(position)))
        try:
            async with asyncio.timeout(max(1.0, self.probe_every)):
                row = await self.replica.fetchrow(REPLAYED_POSITION)
        except DATABASE_ERRORS as exc:
            self._down(f"probe failed: {exc!r}")
            return
        assert row is not None
        if not row["pg_is_in_recovery"] or row["replayed"] is None:
            self._down("it is not a standby in recovery")
            return
        replayed = int(row["replayed"])
        caught_up = [t for t, p in self._positions if p <= replayed]
        # Nothing in the history replayed yet: at least as old as the oldest pair.
        since = max(caught_up) if caught_up else self._positions[0][0]
        self.lag = max(0.0, at - since)
        metrics.REPLICA_LAG_SECONDS.set(self.lag)
        state = "ok" if self.lag <= self.max_lag else "lagging"
        if state != self.state:
            log.warning("read replica %s (lag %.1f s)", state, self.lag)
        self.state = state

    def _down(self, reason: str) -> None:
        if self.state != "down":
            log.warning("read replica skipped: %s", reason)
        self.state, self.lag = "down", None
        metrics.REPLICA_LAG_SECONDS.set(-1)
