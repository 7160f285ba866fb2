"""A status move reads and checks its appointment without a lock, then writes in one statement
that locks the row and confirms it is still what was checked (move_appointment, migration
0016). Here another transaction changes the appointment between the two, on a real
PostgreSQL: the move must then check again, not write over what it did not see."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from careslot.accounts.models import User
from careslot.audit.log import AuditLog
from careslot.booking import repository as repo
from careslot.booking import service
from careslot.config import Settings
from careslot.context import Context
from careslot.db.pool import create_pool
from careslot.errors import InvalidTransition
from careslot.messages import outbox


async def patient_moves(conn: asyncpg.Connection, seen: Any, status: str) -> tuple[bytes, int]:
    """repo.move of `seen` (as read_for_move read it) to `status`, by its own patient."""
    return await repo.move(
        conn,
        seen=seen,
        actor_id=seen["client_id"],
        status=status,
        kind=status,
        summary=f"Status changed to {status}",
        event=outbox.EVENTS.get(status, "status_changed"),
        now=seen["starts_at"],
        reminders=(),
        exempt=False,
    )


async def _blocked_behind(watch: asyncpg.Connection, holder: asyncpg.Connection) -> None:
    """Until some session waits for a lock that `holder` holds."""
    async with asyncio.timeout(10):
        while not await watch.fetchval(
            "select exists (select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid)))",
            holder.get_server_pid(),
        ):
            await asyncio.sleep(0.02)


async def _cancel_while_another_moves_it(database_url: str, meanwhile: str) -> dict[str, Any]:
    """A staff cancel of a scheduled appointment whose row another transaction holds and sets
    to `meanwhile` before letting go; what the cancel answered (or raised) and what remains."""
    settings = Settings(database_url=database_url, redis_url=None)
    pool = await create_pool(settings, database_url)
    ctx = Context(settings=settings, pool=pool, audit=AuditLog(pool))
    holder, watch = [await asyncpg.connect(database_url) for _ in range(2)]
    try:
        appointment = await watch.fetchval(
            "select id from appointments where status = 'scheduled' and starts_at > now() "
            "order by id limit 1"
        )
        staff = await watch.fetchrow(
            "select id, email, name, role from users where role = 'staff' order by id limit 1"
        )
        actor = User(staff["id"], staff["email"], staff["name"], staff["role"])
        await holder.execute("begin")
        await holder.execute("select 1 from appointments where id = $1 for update", appointment)
        cancel = asyncio.create_task(
            service.update(ctx, actor=actor, appointment_id=appointment, status="cancelled")
        )
        await _blocked_behind(watch, holder)  # it read and checked 'scheduled', and waits
        await holder.execute(
            "update appointments set status = $2 where id = $1", appointment, meanwhile
        )
        await holder.execute("commit")
        outcome: dict[str, Any] = {}
        try:
            outcome["answer"] = await cancel
        except InvalidTransition as exc:
            outcome["refused"] = exc
        outcome["status"] = await watch.fetchval(
            "select status from appointments where id = $1", appointment
        )
        outcome["cancels"] = await watch.fetchval(
            "select count(*) from activity where appointment_id = $1 and kind = 'cancelled'",
            appointment,
        )
        return outcome
    finally:
        for conn in (holder, watch):
            await conn.close()
        await pool.close()


def test_a_move_made_impossible_meanwhile_is_refused(database_url: str) -> None:
    """Completed before the cancel's lock: a completed appointment cannot be cancelled."""
    outcome = asyncio.run(_cancel_while_another_moves_it(database_url, "completed"))
    assert "refused" in outcome, outcome
    assert outcome["status"] == "completed"
    assert outcome["cancels"] == 0


def test_a_move_still_allowed_after_a_change_meanwhile_is_made(database_url: str) -> None:
    """Confirmed before the cancel's lock: a confirmed appointment may be cancelled, once."""
    outcome = asyncio.run(_cancel_while_another_moves_it(database_url, "confirmed"))
    assert b'"status":"cancelled"' in outcome["answer"], outcome
    assert outcome["status"] == "cancelled"
    assert outcome["cancels"] == 1


@pytest.mark.parametrize("meanwhile", ["completed", "confirmed"])
def test_nothing_is_written_by_a_move_of_an_appointment_it_did_not_see(
    database_url: str, meanwhile: str
) -> None:
    """The statement alone: given the row as it was, it refuses and writes nothing."""

    async def scenario() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            appointment = await conn.fetchval(
                "select id from appointments where status = 'scheduled' order by id limit 1"
            )
            seen = await repo.read_for_move(conn, appointment)
            assert seen is not None
            await conn.execute(
                "update appointments set status = $2 where id = $1", appointment, meanwhile
            )
            activity = await conn.fetchval("select count(*) from activity")
            with pytest.raises(repo.ChangedMeanwhile):
                await patient_moves(conn, seen, "cancelled")
            assert (
                await conn.fetchval("select status from appointments where id = $1", appointment)
                == meanwhile
            )
            assert await conn.fetchval("select count(*) from activity") == activity
        finally:
            await conn.close()

    asyncio.run(scenario())
