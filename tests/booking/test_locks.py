"""A status move names its doctor's department to the caches (so they drop that department's
slot lists without asking the database again). The department it read must still be the
doctor's when the move commits: a doctor moved to another department in between would leave
the new department's lists showing the old state. repo.lock (and move_appointment, a status
move's one statement) share-locks the doctor's row, so the two writes take turns, in either
order, on a real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg

from careslot.booking import repository as repo
from tests.booking.test_move import patient_moves


async def _blocked_by(watch: asyncpg.Connection, waiting: asyncpg.Connection) -> list[int]:
    found: list[int] = await watch.fetchval("select pg_blocking_pids($1)", waiting.get_server_pid())
    return found


async def _wait_until_blocked(
    watch: asyncpg.Connection, waiting: asyncpg.Connection, task: asyncio.Task[object]
) -> list[int]:
    async with asyncio.timeout(10):
        while not task.done():
            if blockers := await _blocked_by(watch, waiting):
                return blockers
            await asyncio.sleep(0.02)
    return []


async def _scheduled_and_another_department(
    watch: asyncpg.Connection,
) -> tuple[asyncpg.Record, int]:
    """A scheduled appointment (id, doctor, department) and a department not its doctor's."""
    row = await watch.fetchrow(
        """select a.id, a.doctor_id, d.department_id from appointments a
           join doctors d on d.id = a.doctor_id where a.status = 'scheduled'
           order by a.id limit 1"""
    )
    assert row is not None
    other: int = await watch.fetchval(
        "select id from departments where id <> $1 order by id limit 1", row["department_id"]
    )
    return row, other


def test_a_doctor_changes_department_only_between_status_moves(database_url: str) -> None:
    async def scenario() -> None:
        changer, mover, watch = [await asyncpg.connect(database_url) for _ in range(3)]
        try:
            row, other = await _scheduled_and_another_department(watch)
            move = "update doctors set department_id = $1 where id = $2"

            # The status move first: the department move waits for its commit.
            async with changer.transaction():
                locked = await repo.lock(changer, row["id"])
                assert locked is not None
                assert locked["department_id"] == row["department_id"]
                moving = asyncio.create_task(mover.execute(move, other, row["doctor_id"]))
                blockers = await _wait_until_blocked(watch, mover, moving)
                assert blockers == [changer.get_server_pid()]
            await moving

            # The department move first: the status move waits, then reads the new one.
            await mover.execute("begin")
            await mover.execute(move, row["department_id"], row["doctor_id"])
            async with changer.transaction():
                locking = asyncio.create_task(repo.lock(changer, row["id"]))
                blockers = await _wait_until_blocked(watch, changer, locking)
                assert blockers == [mover.get_server_pid()]
                await mover.execute("commit")
                relocked = await locking
                assert relocked is not None
                assert relocked["department_id"] == row["department_id"]
        finally:
            for conn in (changer, mover, watch):
                await conn.close()

    asyncio.run(scenario())


def test_a_status_move_in_one_statement_names_the_department_it_locked(database_url: str) -> None:
    """move_appointment (migration 0016) reads the department under its own locks: a
    department move it waited for is the one it names, and one that comes later waits for it."""

    async def scenario() -> None:
        changer, mover, watch = [await asyncpg.connect(database_url) for _ in range(3)]
        try:
            row, other = await _scheduled_and_another_department(watch)
            move = "update doctors set department_id = $1 where id = $2"

            async def confirm() -> int:
                seen = await repo.read_for_move(changer, row["id"])
                assert seen is not None
                _, department = await patient_moves(changer, seen, "confirmed")
                return department

            # The department move first: the status move waits, then names the new one.
            await mover.execute("begin")
            await mover.execute(move, other, row["doctor_id"])
            confirming = asyncio.create_task(confirm())
            blockers = await _wait_until_blocked(watch, changer, confirming)
            assert blockers == [mover.get_server_pid()]
            await mover.execute("commit")
            assert await confirming == other

            # The status move first (its transaction still open): the department move waits.
            async with changer.transaction():
                await changer.execute(
                    "update appointments set status = 'scheduled' where id = $1", row["id"]
                )
                assert await confirm() == other
                moving = asyncio.create_task(
                    mover.execute(move, row["department_id"], row["doctor_id"])
                )
                blockers = await _wait_until_blocked(watch, mover, moving)
                assert blockers == [changer.get_server_pid()]
            await moving
        finally:
            for conn in (changer, mover, watch):
                await conn.close()

    asyncio.run(scenario())
