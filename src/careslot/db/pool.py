"""The asyncpg pool: few warm connections, short timeouts, named for pg_stat_activity.

Sizes (CARESLOT_POOL_MIN / CARESLOT_POOL_MAX, default 2 / 8 per worker) come from a load
test on 2 cores (see README): beyond about twice the cores, more connections only queue
inside PostgreSQL and raise p50 without adding throughput.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

from careslot.config import Settings
from careslot.db.failures import is_broken_connection
from careslot.monitoring import metrics, timing

_clock = time.perf_counter
_observe = metrics.DB_QUERY_SECONDS.observe


def _record(started: float) -> None:
    elapsed = _clock() - started
    _observe(elapsed)
    timing.note_db(elapsed)


class TimedConnection(asyncpg.Connection):
    """Counts each round trip's time into the request's Server-Timing and /metrics.

    asyncpg's add_query_logger reports through loop.call_soon, i.e. after the awaiting code
    resumes, so the last query of a request could miss its Server-Timing header; timing the
    awaited call here is exact and cheaper (no LoggedQuery record per query).
    """

    def get_reset_query(self) -> str:
        # asyncpg runs "select pg_advisory_unlock_all(); close all; unlisten *; reset all" on
        # every release: one more round trip per request. Pool connections never change
        # session state (listeners, session locks and SETs use dedicated connections), and
        # asyncpg still rolls back any transaction left open, so the reset is skipped.
        return ""

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        started = _clock()
        try:
            status: str = await super().execute(query, *args, timeout=timeout)
            return status
        finally:
            _record(started)

    async def executemany(
        self,
        command: str,
        args: Any,
        *,
        timeout: float | None = None,
    ) -> None:
        started = _clock()
        try:
            await super().executemany(command, args, timeout=timeout)
        finally:
            _record(started)

    async def fetch(
        self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None
    ) -> list[Any]:
        started = _clock()
        try:
            rows: list[Any] = await super().fetch(
                query, *args, timeout=timeout, record_class=record_class
            )
            return rows
        finally:
            _record(started)

    async def fetchval(
        self, query: str, *args: Any, column: int = 0, timeout: float | None = None
    ) -> Any:
        started = _clock()
        try:
            return await super().fetchval(query, *args, column=column, timeout=timeout)
        finally:
            _record(started)

    async def fetchrow(
        self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None
    ) -> Any:
        started = _clock()
        try:
            return await super().fetchrow(query, *args, timeout=timeout, record_class=record_class)
        finally:
            _record(started)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def dedicated_connection(
    dsn: str, setup: Callable[[asyncpg.Connection], Awaitable[None]], **connect_args: Any
) -> asyncpg.Connection:
    """A connection of one task's own (a listener, a leader), made ready by `setup`. If the
    setup fails or is cancelled (the server stopping, PostgreSQL going away), the half-made
    connection is closed here, not dropped with its socket and backend still open."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn, **connect_args)
    try:
        await setup(conn)
    except BaseException:
        conn.terminate()
        raise
    return conn


def server_settings(settings: Settings, application_name: str = "careslot") -> dict[str, str]:
    if settings.behind_pooler:
        # PgBouncer refuses startup parameters it does not know ("unsupported startup
        # parameter"): behind it the timeouts and jit come from its connect_query instead
        # (deploy/pgbouncer.ini), and each server connection keeps them for every client.
        return {"application_name": application_name}
    return {
        "application_name": application_name,
        "statement_timeout": str(settings.statement_timeout_ms),
        "idle_in_transaction_session_timeout": "15000",
        "jit": "off",
    }


# For the sessions whose end must be noticed fast (the leaders' advisory locks): a host
# that vanishes sends no FIN, so the server probes it (5 s idle, every 2 s, 3 probes) and
# gives up on unacknowledged data after 10 s, ending the session and releasing its locks in
# about 11 s instead of the operating system's two hours.
LEADER_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


class _Acquire:
    """asyncpg's acquire context, except that a connection which failed at the connection
    level (see db/failures.py) is terminated, not returned to the pool for the next request.
    Pool.fetch/fetchrow/execute acquire through Pool.acquire, so they are covered too."""

    __slots__ = ("_conn", "_inner")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._conn: Any = None

    async def __aenter__(self) -> Any:
        self._conn = await self._inner.__aenter__()
        return self._conn

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if is_broken_connection(exc) and self._conn is not None:
            # The pool's release then sees it closed and drops it. A connection that closed
            # itself may already be back with the pool (its proxy detached): nothing to do.
            with contextlib.suppress(asyncpg.InterfaceError):
                self._conn.terminate()
        await self._inner.__aexit__(exc_type, exc, tb)

    def __await__(self) -> Any:
        return self._inner.__await__()


class CareslotPool(asyncpg.Pool):
    """asyncpg's pool with a default acquire timeout, so a saturated pool answers 503 fast,
    and broken connections dropped instead of reused."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return _Acquire(
            super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)
        )


async def create_pool(settings: Settings, database_url: str, *, track: bool = True) -> asyncpg.Pool:
    pool = CareslotPool(
        database_url,
        acquire_timeout=settings.pool_acquire_timeout,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        max_queries=50_000,
        statement_cache_size=settings.statement_cache_size,
        max_inactive_connection_lifetime=60.0,
        loop=None,
        connection_class=TimedConnection,
        record_class=asyncpg.Record,
        init=_init_connection,
        timeout=10.0,  # connect timeout
        command_timeout=settings.statement_timeout_ms / 1000 + 1,
        server_settings=server_settings(settings),
    )
    await pool
    if track:  # the primary's pool is the one /metrics reports
        metrics.track_pool(pool)
    return pool
