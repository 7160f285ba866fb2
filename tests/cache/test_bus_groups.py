"""The invalidation bus between two workers on a real PostgreSQL: a burst of writes in one
worker leaves in a few grouped NOTIFYs, and every write still waits until the other worker
has applied its own tags (acknowledged by id, never by another write's)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
import orjson
import pytest

from careslot.cache import strategies
from careslot.cache.bus import InvalidationBus
from careslot.cache.core import Cache
from careslot.cache.repository import CHANNEL, LISTENERS

T = TypeVar("T")


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


async def _last_statement(conn: asyncpg.Connection) -> object:
    """When any other session of this database last started a statement."""
    return await conn.fetchval(
        "select max(query_start) from pg_stat_activity"
        " where datname = current_database() and pid <> pg_backend_pid()"
    )


def test_a_write_sends_nothing_while_no_other_node_listens(database_url: str) -> None:
    """The node's own workers learn of a write from its generations: a NOTIFY would only wake
    them (and PostgreSQL's notify lock) for nothing, and a lone node runs no statement at all
    for a write. Once a worker of another node has introduced itself, the write reaches it and
    waits for its acknowledgement; once it has gone, the next write's count finds nobody and
    the writer is alone again."""

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
                health_every=60,  # no health check statement during the test
            )

        writer, sibling, other = bus("node-a"), bus("node-a"), bus("node-b")
        heard: list[dict[str, object]] = []
        overhearing = await asyncpg.connect(database_url)  # not a worker: not counted
        await overhearing.add_listener(
            CHANNEL, lambda *args: heard.append(orjson.loads(str(args[-1])))
        )
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            await writer.start()
            await sibling.start()
            before = await _last_statement(overhearing)
            await writer.broadcast(pool, ("tag:alone",), None)
            assert await _last_statement(overhearing) == before  # not one statement
            assert heard == []

            await other.start()  # introduces itself to node-a's two workers
            # A round trip on the overhearing connection: the notification, sent before its
            # answer, has then been handed to the listener (a CI run once asserted too soon).
            await overhearing.fetchval("select 1")
            assert [(m["node"], m["tags"]) for m in heard] == [("node-b", [])]
            assert applied == []  # an introduction drops nothing
            await writer.broadcast(pool, ("tag:two-nodes",), None)
            assert applied == [("tag:two-nodes",)]  # by the other node, before the return
            await overhearing.fetchval("select 1")
            assert [m["tags"] for m in heard[1:]] == [["tag:two-nodes"]]

            await other.stop()
            await writer.broadcast(pool, ("tag:counted",), None)  # counts nobody, sends nothing
            before = await _last_statement(overhearing)
            await writer.broadcast(pool, ("tag:alone-again",), None)
            assert await _last_statement(overhearing) == before
            await overhearing.fetchval("select 1")
            assert len(heard) == 2
        finally:
            await pool.close()
            await overhearing.close()
            for b in (writer, sibling, other):
                await b.stop()

    asyncio.run(scenario())


def test_a_joining_worker_caches_nothing_until_every_other_node_has_heard_of_it(
    database_url: str,
) -> None:
    """A lone node's writes tell nobody. A worker of a new node may therefore cache nothing
    until every worker of another node has heard of it: it reads PostgreSQL while one of
    them is busy, and caches from when that one has acknowledged it. From then on that
    node's writes reach it."""
    busy = threading.Event()
    loop_a = asyncio.new_event_loop()
    thread = threading.Thread(target=loop_a.run_forever, daemon=True)
    thread.start()

    def on_a(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop_a).result(10)

    async def nothing() -> None:
        return None

    async def start_a() -> tuple[InvalidationBus, asyncpg.Pool]:
        bus = InvalidationBus(
            database_url,
            node="node-a",
            on_remote=lambda tags, epoch: None,
            on_lost=lambda: None,
            on_restored=nothing,
            ack_timeout=5.0,
        )
        await bus.start()
        return bus, await asyncpg.create_pool(database_url, min_size=1, max_size=1)

    a, pool_a = on_a(start_a())
    assert not a.others  # alone: its writes tell nobody
    loop_a.call_soon_threadsafe(busy.wait)  # node a's worker hears nothing for now

    async def scenario() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        cache = Cache(pool=pool)
        cache.bus = InvalidationBus(
            database_url,
            node="node-b",
            on_remote=cache.apply_remote,
            on_lost=cache.on_channel_lost,
            on_restored=cache.on_channel_restored,
            health_every=0.2,
        )
        loads = 0

        async def load() -> bytes:
            nonlocal loads
            loads += 1
            return b'{"n": %d}' % loads

        async def read() -> str:
            return (await cache.fetch(strategies.DEPARTMENTS, "k", ("tag:k",), load)).outcome

        try:
            await cache.start()
            assert not cache.bus.ready
            assert [await read(), await read()] == ["miss", "miss"]  # nothing cached
            assert loads == 2

            busy.set()
            async with asyncio.timeout(10):
                while not cache.bus.ready:  # the watch introduces it again
                    await asyncio.sleep(0.05)
            assert [await read(), await read()] == ["miss", "l1"]

            # Node a now tells node b (and waits for it, so this loop must run meanwhile).
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(a.broadcast(pool_a, ("tag:k",), None), loop_a)
            )
            assert [await read(), await read()] == ["miss", "l1"]
            assert loads == 4
        finally:
            await cache.stop()
            await pool.close()

    try:
        asyncio.run(scenario())
    finally:
        busy.set()
        on_a(pool_a.close())
        on_a(a.stop())
        loop_a.call_soon_threadsafe(loop_a.stop)
        thread.join(5)
