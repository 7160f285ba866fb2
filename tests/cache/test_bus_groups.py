"""The invalidation bus between two workers on a real PostgreSQL: a burst of writes in one
worker leaves in a few grouped NOTIFYs, and every write still waits until the other worker
has applied its own tags (acknowledged by id, never by another write's)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from careslot.cache.bus import InvalidationBus
from careslot.cache.repository import CHANNEL, LISTENERS


async def _pair(url: str) -> tuple[InvalidationBus, InvalidationBus, list[tuple[str, ...]]]:
    applied: list[tuple[str, ...]] = []

    async def nothing() -> None:
        return None

    writer = InvalidationBus(
        url, on_remote=lambda tags, epoch: None, on_lost=lambda: None, on_restored=nothing
    )
    reader = InvalidationBus(
        url,
        on_remote=lambda tags, epoch: applied.append(tags),
        on_lost=lambda: None,
        on_restored=nothing,
        ack_timeout=5.0,
    )
    await writer.start()
    await reader.start()
    return writer, reader, applied


def test_a_burst_is_grouped_and_every_write_waits_for_its_own_tags(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        writer, reader, applied = await _pair(database_url)
        writer.ack_timeout = 5.0
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        sent = 0
        notify = writer.run

        async def counting_run(pool: asyncpg.Pool, work):  # type: ignore[no-untyped-def]
            nonlocal sent
            sent += 1
            return await notify(pool, work)

        writer.run = counting_run  # type: ignore[method-assign]
        try:
            async with pool.acquire() as conn:  # both listeners are up
                assert (
                    await conn.fetchval(
                        "select count(*) from pg_stat_activity"
                        " where application_name like $1 and datname = current_database()",
                        LISTENERS,
                    )
                    == 2
                )

            async def write(i: int) -> tuple[str, ...]:
                await writer.broadcast(pool, (f"tag:{i}",), None)
                # By the time a write returns, the reader has applied its tag.
                assert any(f"tag:{i}" in tags for tags in applied), i
                return (f"tag:{i}",)

            done = await asyncio.gather(*(write(i) for i in range(40)))
            assert len(done) == 40
            assert 1 <= sent < 40  # grouped: far fewer NOTIFYs than writes
            assert {t for tags in applied for t in tags} == {f"tag:{i}" for i in range(40)}
        finally:
            await pool.close()
            await writer.stop()
            await reader.stop()

    with caplog.at_level("WARNING", logger="careslot.cache.bus"):
        asyncio.run(scenario())
    # Every write was acknowledged (none waited out its 5 s timeout).
    assert not [r for r in caplog.records if "acknowledged" in r.getMessage()]


def test_a_write_whose_ack_never_comes_is_not_acknowledged_by_another(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two readers, one of which applies but never acknowledges (its acks lost): each write
    ends its wait in its timeout with the one acknowledgement it really had, never counting
    the other reader's acknowledgements of other writes as its own."""

    async def scenario() -> None:
        writer, reader, applied = await _pair(database_url)
        mute = await _listener(database_url)
        writer.ack_timeout = 0.3

        async def lose() -> None:
            mute._unacked.clear()  # the seam under test
            mute._acking = False

        mute._ack = lose  # type: ignore[method-assign]
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            await asyncio.gather(*(writer.broadcast(pool, (f"tag:{i}",), None) for i in range(5)))
            assert {t for tags in applied for t in tags} == {f"tag:{i}" for i in range(5)}
        finally:
            await pool.close()
            for bus in (writer, reader, mute):
                await bus.stop()

    with caplog.at_level("WARNING", logger="careslot.cache.bus"):
        asyncio.run(scenario())
    waits = [r.getMessage() for r in caplog.records if "acknowledged" in r.getMessage()]
    assert len(waits) == 5
    assert all(w.startswith("cache invalidation: 1 of 2 workers") for w in waits), waits


async def _listener(url: str) -> InvalidationBus:
    async def nothing() -> None:
        return None

    bus = InvalidationBus(
        url, on_remote=lambda tags, epoch: None, on_lost=lambda: None, on_restored=nothing
    )
    await bus.start()
    return bus


def test_a_write_sends_nothing_while_no_other_node_listens(database_url: str) -> None:
    """The node's own workers learn of a write from its generations: a NOTIFY would only wake
    them (and PostgreSQL's notify lock) for nothing. Once a worker of another node listens,
    the write reaches it and waits for its acknowledgement."""

    async def scenario() -> None:
        async def nothing() -> None:
            return None

        applied: list[tuple[str, ...]] = []

        def bus(node: str) -> InvalidationBus:
            return InvalidationBus(
                database_url,
                node=node,
                on_remote=lambda tags, epoch: applied.append(tags),
                on_lost=lambda: None,
                on_restored=nothing,
                ack_timeout=5.0,
            )

        writer, sibling, other = bus("node-a"), bus("node-a"), bus("node-b")
        heard: list[str] = []
        overhearing = await asyncpg.connect(database_url)  # not a worker: not counted
        await overhearing.add_listener(CHANNEL, lambda *args: heard.append(str(args[-1])))
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            await writer.start()
            await sibling.start()
            await writer.broadcast(pool, ("tag:alone",), None)
            await overhearing.fetchval("select 1")  # what was sent has arrived by now
            assert heard == []

            await other.start()
            await writer.broadcast(pool, ("tag:two-nodes",), None)
            assert applied == [("tag:two-nodes",)]  # by the other node, before the return
            await overhearing.fetchval("select 1")
            assert len(heard) == 1
            assert "tag:two-nodes" in heard[0]
        finally:
            await pool.close()
            await overhearing.close()
            for b in (writer, sibling, other):
                await b.stop()

    asyncio.run(scenario())
