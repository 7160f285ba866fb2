"""Sibling workers share one generation table (cache/generations.py): a write in one makes
its tags stale in the others' layer 1 at once, with no message and no acknowledgement.

Each "worker" here is a Cache with no invalidation bus, mapping the same table file, so
nothing but the table can tell one about the other's writes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from careslot.cache import keys
from careslot.cache.core import Cache
from careslot.cache.generations import (
    ENV,
    TABLE_PREFIX,
    Generations,
    node_table,
    shared_by_workers,
    slot_of,
)
from careslot.cache.redis_layer import RedisLayer
from careslot.cache.setup import database_namespace
from tests.cache.test_layers import LONG, TAGS, CountingLoader, begun, layer2

KEY = "cs:v1:test:client:1"


@pytest.fixture
def table(tmp_path: Path) -> str:
    return str(tmp_path / "node")


@pytest.fixture
async def siblings(table: str) -> AsyncIterator[tuple[Cache, Cache]]:
    a, b = Cache(generations=Generations(table)), Cache(generations=Generations(table))
    yield a, b
    await a.stop()
    await b.stop()


async def test_a_siblings_write_makes_the_cached_answer_a_miss(
    siblings: tuple[Cache, Cache], pool: asyncpg.Pool
) -> None:
    a, b = siblings
    load = CountingLoader(pool)
    assert (await a.fetch(LONG, KEY, TAGS, load)).outcome == "miss"
    assert (await a.fetch(LONG, KEY, TAGS, load)).outcome == "l1"
    await b.invalidate(TAGS)
    assert (await a.fetch(LONG, KEY, TAGS, load)).outcome == "miss"
    assert load.calls == 2
    # Another owner's write leaves it cached.
    await b.invalidate(("client:2",))
    assert (await a.fetch(LONG, KEY, TAGS, load)).outcome == "l1"


async def test_a_private_table_is_not_shared(pool: asyncpg.Pool) -> None:
    """Without a table file each worker is a node of its own: the check above is the
    table's doing, not the test's."""
    a, b = Cache(), Cache()
    load = CountingLoader(pool)
    await a.fetch(LONG, KEY, TAGS, load)
    await b.invalidate(TAGS)
    assert (await a.fetch(LONG, KEY, TAGS, load)).outcome == "l1"
    assert a.l1.generations.node != b.l1.generations.node


async def test_everything_in_a_sibling_drops_every_answer(
    siblings: tuple[Cache, Cache], pool: asyncpg.Pool
) -> None:
    a, b = siblings
    load = CountingLoader(pool)
    await a.fetch(LONG, KEY, TAGS, load)
    await b.invalidate((keys.EVERYTHING,))
    assert (await a.fetch(LONG, KEY, TAGS, load)).outcome == "miss"


async def test_a_load_that_began_before_a_siblings_write_is_neither_joined_nor_kept(
    siblings: tuple[Cache, Cache], pool: asyncpg.Pool
) -> None:
    a, b = siblings
    old = CountingLoader(pool)
    old.gate = asyncio.Event()
    slow = await begun(a, KEY, old)
    await b.invalidate(TAGS)  # commits after the slow load began
    new = CountingLoader(pool)
    fresh = await asyncio.wait_for(a.fetch(LONG, KEY, TAGS, new), 5)  # joined: waits forever
    assert (fresh.outcome, new.calls) == ("miss", 1)  # did not join the old load
    old.gate.set()
    await slow
    # The old load's answer was not stored over anything: the next read is a miss or the
    # fresh answer, never the old load's.
    after = await a.fetch(LONG, KEY, TAGS, new)
    assert after.outcome == "l1"
    assert after.entry is fresh.entry


@pytest.mark.redis
async def test_a_sibling_cannot_refill_from_redis_before_redis_has_dropped_the_write(
    table: str, redis_url: str, database_url: str, pool: asyncpg.Pool
) -> None:
    """While a write is still dropping its tags from Redis, a sibling that reads the old
    answer back from layer 2 must not keep it past the write's answer: the node's
    generations move only once Redis has dropped the tags, so that read is already old."""
    namespace = database_namespace(database_url)
    a = Cache(generations=Generations(table), redis=layer2(redis_url, namespace))
    b = Cache(generations=Generations(table), redis=layer2(redis_url, namespace))
    try:
        load = CountingLoader(pool)
        assert (await a.fetch(LONG, KEY, TAGS, load)).outcome == "miss"  # in L1 and Redis
        assert b.redis is not None
        redis_invalidate, gate, reached = b.redis.invalidate, asyncio.Event(), asyncio.Event()

        async def held(tags: tuple[str, ...]) -> bool:
            reached.set()
            await gate.wait()
            return await redis_invalidate(tags)

        b.redis.invalidate = held  # type: ignore[method-assign]
        write = asyncio.create_task(b.invalidate(TAGS))
        await asyncio.wait_for(reached.wait(), 5)
        during = await a.fetch(LONG, KEY, TAGS, load)  # before the write's answer: any answer
        gate.set()
        await write
        after = await a.fetch(LONG, KEY, TAGS, load)
        assert (during.outcome, after.outcome, load.calls) == ("l1", "miss", 2)
    finally:
        await a.stop()
        await b.stop()


def test_an_epoch_moved_by_a_sibling_holds_here_at_once(table: str) -> None:
    here, there = Generations(table), Generations(table)
    redis_here = RedisLayer("redis://127.0.0.1:1/0", timeout=0.05, cooldown=1, generations=here)
    redis_there = RedisLayer("redis://127.0.0.1:1/0", timeout=0.05, cooldown=1, generations=there)
    redis_there.epoch = 7
    assert redis_here.epoch == 7
    redis_here.epoch = 3  # epochs only move on
    assert redis_there.epoch == 7


def _bump(table: str, times: int) -> None:
    generations = Generations(table)
    for _ in range(times):
        generations.bump(("hot",))
    generations.close()


def test_concurrent_bumps_are_never_lost(table: str) -> None:
    """Four processes bump one tag at once. A lost update would let a generation go back to
    a number an old entry still matches; the table's lock prevents it."""
    Generations(table).close()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_bump, args=(table, 50_000)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
        assert p.exitcode == 0
    assert Generations(table).view[slot_of("hot")] == 200_000


def test_a_servers_table_is_removed_when_it_stops(tmp_path: Path) -> None:
    with node_table(str(tmp_path)) as path:
        assert Path(path).exists()
        Generations(path).bump(("x",))
    assert not Path(path).exists()


def test_the_table_of_a_killed_server_is_removed_by_the_next_one(tmp_path: Path) -> None:
    """A SIGKILLed server never removes its table: the next server on the host does."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"{TABLE_PREFIX}{dead.pid}-abc"
    orphan.write_bytes(b"")
    living = tmp_path / f"{TABLE_PREFIX}{os.getpid()}-def"  # this process: alive
    living.write_bytes(b"")
    with node_table(str(tmp_path)) as path:
        assert not orphan.exists()
        assert living.exists()
        assert Path(path).name.startswith(f"{TABLE_PREFIX}{os.getpid()}-")


def test_a_table_is_made_for_several_workers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with shared_by_workers(1):
        assert ENV not in os.environ  # one worker: its private table is the same thing
    with shared_by_workers(2):
        made = os.environ[ENV]
        assert Path(made).exists()
    assert ENV not in os.environ
    assert not Path(made).exists()
    monkeypatch.setenv(ENV, "/named/by/the/operator")
    with shared_by_workers(2):
        assert os.environ[ENV] == "/named/by/the/operator"
