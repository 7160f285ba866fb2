"""Background pruning of rows that can no longer matter (issue 13, item 5).

Each table keeps a row for as long as it can matter, then deletes it:
- `login_failures`: the per-email window (CARESLOT_LOGIN_FAILURE_WINDOW_MINUTES, 15 min);
- `address_attempts`: its limit's window (failed sign-ins 15 min, registrations 1 h);
- `sessions`: until `expires_at` (12 h absolute; revoked ones too, until then);
- `idempotency_keys`: CARESLOT_IDEMPOTENCY_KEEP_HOURS (24 h), the time a client's retries of
  one booking can take; a repeat after that is a new request.

Every worker runs the loop every CARESLOT_PRUNE_SECONDS (300; 0: off); each pass takes a
transaction-level advisory lock with pg_try_advisory_xact_lock, so one worker prunes at a time
and the others skip that pass. Deletes go in batches (so no pass holds many row locks for long)
and "now" is the context clock's, like every other time decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from careslot.accounts import limits
from careslot.config import Settings
from careslot.db import Conn
from careslot.db.failures import DATABASE_ERRORS

log = logging.getLogger("careslot.db.pruning")

LOCK_KEY = 0x63_61_72_65_70_72  # "carepr": one pruner at a time (per database)
BATCH = 5000

# Each statement deletes at most BATCH rows older than $1 (and, for address_attempts, $2).
_STATEMENTS = {
    "login_failures": """delete from login_failures where id in (
        select id from login_failures where at < $1 limit $2)""",
    "address_attempts": f"""delete from address_attempts where id in (
        select id from address_attempts
        where (kind = '{limits.LOGIN}' and at < $1) or (kind = '{limits.REGISTER}' and at < $3)
        limit $2)""",
    "sessions": """delete from sessions where token_hash in (
        select token_hash from sessions where expires_at < $1 limit $2)""",
    "idempotency_keys": """delete from idempotency_keys where (user_id, key) in (
        select user_id, key from idempotency_keys where created_at < $1 limit $2)""",
}


@dataclass(frozen=True)
class Cutoffs:
    login_failures: datetime
    address_logins: datetime
    address_registrations: datetime
    sessions: datetime
    idempotency_keys: datetime

    @classmethod
    def at(cls, now: datetime, settings: Settings) -> Cutoffs:
        return cls(
            login_failures=now - timedelta(minutes=settings.login_failure_window_minutes),
            address_logins=now - limits.WINDOWS[limits.LOGIN],
            address_registrations=now - limits.WINDOWS[limits.REGISTER],
            sessions=now,
            idempotency_keys=now - timedelta(hours=settings.idempotency_keep_hours),
        )


async def _delete_all(conn: Conn, table: str, *args: object) -> int:
    total = 0
    while True:
        status: str = await conn.execute(_STATEMENTS[table], *args)
        deleted = int(status.rsplit(" ", 1)[-1])
        total += deleted
        if deleted < BATCH:
            return total


async def prune_once(
    pool: asyncpg.Pool, now: datetime, settings: Settings
) -> dict[str, int] | None:
    """One pass: rows deleted per table, or None when another worker holds the lock."""
    cut = Cutoffs.at(now, settings)
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("select pg_try_advisory_xact_lock($1)", LOCK_KEY):
            return None
        return {
            "login_failures": await _delete_all(conn, "login_failures", cut.login_failures, BATCH),
            "address_attempts": await _delete_all(
                conn, "address_attempts", cut.address_logins, BATCH, cut.address_registrations
            ),
            "sessions": await _delete_all(conn, "sessions", cut.sessions, BATCH),
            "idempotency_keys": await _delete_all(
                conn, "idempotency_keys", cut.idempotency_keys, BATCH
            ),
        }


class Pruner:
    """The loop every worker runs; see the module docstring."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, now: Callable[[], datetime]) -> None:
        self.pool, self.settings, self.now = pool, settings, now
        self.interval = settings.prune_seconds
        self.passes = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="careslot-pruner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                deleted = await prune_once(self.pool, self.now(), self.settings)
            except DATABASE_ERRORS as exc:  # down or busy: the next pass tries again
                log.warning("pruning skipped: %r", exc)
                continue
            if deleted is not None:
                self.passes += 1
                if any(deleted.values()):
                    log.info("pruned %s", deleted)
