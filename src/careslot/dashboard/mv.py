"""dashboard_stats_mv: its refresher, and the hospital-wide figures read from it.

The view is at most CARESLOT_MV_REFRESH_SECONDS old, so it serves only what may be that old:
hospital-wide figures for staff (GET /api/stats/hospital), overviews and cache warming.
The per-patient dashboard reads the appointments table (see dashboard/repository.py).

One worker refreshes: every worker keeps a dedicated connection and tries a session-level
advisory lock on it; the holder is the leader until its connection ends (crash, restart),
then another worker (on any node) takes over within a second: followers try the lock
every FOLLOW_SECONDS. Behind PgBouncer the connection is DATABASE_DIRECT_URL's. Refreshes
run one after another on that connection, so a refresh still running when the next is due
makes that one skipped; a lock_timeout makes the leader skip too when someone else (pg_cron,
an operator) is refreshing. Where pg_cron is installed in this database, the leader
schedules the refresh there instead and the workers only watch the view's age.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from careslot import access
from careslot.accounts.models import User
from careslot.config import Settings
from careslot.context import Context
from careslot.dashboard.schemas import HospitalFigures, HospitalStats
from careslot.db.failures import UNAVAILABLE
from careslot.db.pool import LEADER_KEEPALIVES
from careslot.monitoring import metrics

log = logging.getLogger("careslot.dashboard.mv")

LOCK_KEY = 0x63_61_72_65_6D_76  # "caremv": the refresher's advisory lock (per database)
CRON_JOB = "careslot-refresh-dashboard-stats"
REFRESH = "refresh materialized view concurrently dashboard_stats_mv"
REFRESHED_AT = "select refreshed_at from dashboard_stats_mv where client_id = 0"
HOSPITAL = """
select patients_with_upcoming, upcoming_count, total_month_count, completed_count,
       cancelled_count, no_show_count, total_count, next_appointment_date,
       refreshed_at as as_of
from dashboard_stats_mv where client_id = 0
"""
CONNECTION_ERRORS = UNAVAILABLE
FOLLOW_SECONDS = 1.0  # how often a worker that does not refresh tries to take over


async def hospital_stats(ctx: Context, *, actor: User) -> HospitalStats:
    access.staff_only(actor, "hospital figures")
    # May lag by the view's own age anyway: served by the replica when it is close enough.
    row = await ctx.lagging_reads.run(lambda conn: conn.fetchrow(HOSPITAL))
    if row is None:  # the view is created empty until its first refresh
        return HospitalStats(data=None)
    figures = HospitalFigures.model_validate(dict(row))
    metrics.note_mv_refreshed(figures.as_of.timestamp())
    return HospitalStats(data=figures)


def cron_schedule(seconds: float) -> str:
    """pg_cron >= 1.5 takes '[1-59] seconds'; longer intervals become a minute schedule."""
    if seconds < 60:
        return f"{max(1, round(seconds))} seconds"
    return f"*/{max(1, min(59, round(seconds / 60)))} * * * *"


class MvRefresher:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.database_url = database_url
        self.settings = settings
        self.interval = settings.mv_refresh_seconds
        self.leader = False
        self.mode = "app"  # or "pg_cron"
        self.refreshes = 0  # refreshes this worker ran (the tests count them)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="careslot-mv-refresher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()

    async def _run(self) -> None:
        next_due = time.monotonic()
        while True:
            try:
                await self.tick()
            except CONNECTION_ERRORS as exc:
                log.warning("mv refresher lost its connection: %s", exc)
                await self._disconnect()
            except asyncpg.PostgresError as exc:
                log.warning("mv refresher: %s", exc)
            now = time.monotonic()
            if not self.leader:  # a follower asks for the lock every second (failover)
                await asyncio.sleep(min(self.interval, FOLLOW_SECONDS))
                next_due = time.monotonic()
                continue
            next_due += self.interval
            if next_due < now:  # the refresh overran: skip the ticks it covered
                skipped = int((now - next_due) // self.interval) + 1
                metrics.MV_REFRESHES.labels("skipped").inc(skipped)
                next_due += skipped * self.interval
            await asyncio.sleep(next_due - now)

    async def tick(self) -> None:
        conn = await self._connection()
        if not self.leader:
            self.leader = bool(await conn.fetchval("select pg_try_advisory_lock($1)", LOCK_KEY))
            if self.leader:
                log.info("this worker refreshes dashboard_stats_mv")
                metrics.LEADER.labels("mv_refresher").set(1)
                await self._try_pg_cron(conn)
        if self.leader and self.mode == "app":
            refreshed = await conn.fetchval(REFRESHED_AT)
            # A new leader right after a refresh by the old one waits for its turn.
            if refreshed is None or time.time() - refreshed.timestamp() >= self.interval * 0.9:
                await self._refresh(conn)
        refreshed = await conn.fetchval(REFRESHED_AT)
        if refreshed is not None:
            metrics.note_mv_refreshed(refreshed.timestamp())

    async def _refresh(self, conn: asyncpg.Connection) -> None:
        started = time.perf_counter()
        try:
            await conn.execute(REFRESH)
        except asyncpg.LockNotAvailableError:
            metrics.MV_REFRESHES.labels("busy").inc()  # someone else is refreshing
            return
        except asyncpg.PostgresError:
            metrics.MV_REFRESHES.labels("error").inc()
            raise
        metrics.MV_REFRESH_SECONDS.set(time.perf_counter() - started)
        metrics.MV_REFRESHES.labels("ok").inc()
        self.refreshes += 1

    async def _try_pg_cron(self, conn: asyncpg.Connection) -> None:
        installed = await conn.fetchval(
            "select exists (select 1 from pg_extension where extname = 'pg_cron')"
        )
        if not installed:
            return
        command = f"set time zone '{self.settings.timezone}'; {REFRESH}"
        try:
            await conn.fetchval(
                "select cron.schedule($1, $2, $3)", CRON_JOB, cron_schedule(self.interval), command
            )
        except asyncpg.PostgresError as exc:  # e.g. pg_cron lives in another database
            log.info("pg_cron present but not usable here (%s); refreshing in-app", exc)
            return
        self.mode = "pg_cron"
        log.info("dashboard_stats_mv refresh scheduled in pg_cron every %s", self.interval)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            if self.leader:
                metrics.LEADER.labels("mv_refresher").set(0)
            self.leader = False
            self._conn = await asyncpg.connect(
                self.database_url,
                timeout=10,
                server_settings={
                    "application_name": f"careslot-mv-refresher {self.settings.node[:32]}",
                    "timezone": self.settings.timezone,
                    "lock_timeout": "1000",
                    "statement_timeout": str(max(self.settings.statement_timeout_ms, 300_000)),
                    **LEADER_KEEPALIVES,
                },
            )
        return self._conn

    async def _disconnect(self) -> None:
        if self.leader:
            metrics.LEADER.labels("mv_refresher").set(0)
        conn, self._conn, self.leader = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()
