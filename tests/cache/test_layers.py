"""The cache object against real PostgreSQL (the loader) and real Redis (layer 2)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio

from careslot.cache.core import Cache, Fetched
from careslot.cache.redis_layer import RedisLayer
from careslot.cache.setup import database_namespace
from careslot.cache.strategies import PRIVATE, Strategy
from careslot.clock import MovableClock

LONG = Strategy("test", 30, PRIVATE)
TAGS = ("client:1",)


class CountingLoader:
    """Loads from PostgreSQL and counts how often it was asked to."""

    def __init__(self, pool: asyncpg.Pool, sql: str = "select count(*) from appointments"):
        self.pool, self.sql, self.calls = pool, sql, 0
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> bytes:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        async with self.pool.acquire() as conn:
            value = await conn.fetchval(self.sql)
        return f'{{"count":{value}}}'.encode()


async def begun(cache: Cache, key: str, load: CountingLoader) -> asyncio.Task[Fetched]:
    """A fetch of `key` whose load has started (and waits at `load.gate`, if set): its Redis
    read, which may have to connect first, is done. A fetch that starts no load of its own
    (it joined another) is handed back after at most 5 s all the same."""
    calls = load.calls
    fetch = asyncio.create_task(cache.fetch(LONG, key, TAGS, load))
    deadline = asyncio.get_running_loop().time() + 5
    while load.calls == calls and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.001)
    return fetch


def layer2(url: str, namespace: str) -> RedisLayer:
    return RedisLayer(url, timeout=0.5, cooldown=1.0, namespace=namespace)


@pytest.fixture
async def shared(redis_url: str, database_url: str) -> AsyncIterator[tuple[Cache, Cache]]:
    """Two 'workers' sharing one Redis (keys in this test's own namespace)."""
    namespace = database_namespace(database_url)  # this test's database only
    a, b = Cache(redis=layer2(redis_url, namespace)), Cache(redis=layer2(redis_url, namespace))
    yield a, b
    await a.stop()
    await b.stop()


async def test_miss_then_memory_hit(pool: asyncpg.Pool) -> None:
    cache, load = Cache(), CountingLoader(pool)
    first = await cache.fetch(LONG, "cs:v1:test:client:1", TAGS, load)
    second = await cache.fetch(LONG, "cs:v1:test:client:1", TAGS, load)
    assert (first.outcome, second.outcome) == ("miss", "l1")
    assert first.entry == second.entry
    assert load.calls == 1
    assert first.entry.body.startswith(b'{"count":')
    assert first.entry.etag.startswith(b'"')
    assert len(first.entry.etag) == 34


async def test_ttl_expiry_in_memory(pool: asyncpg.Pool) -> None:
    """Layer 1's TTL runs on the cache's clock: moved, not slept."""
    clock = MovableClock()
    cache, load = Cache(clock=clock), CountingLoader(pool)
    await cache.fetch(LONG, "cs:v1:test:client:1", TAGS, load)
    clock.move(dt.timedelta(seconds=29))
    assert (await cache.fetch(LONG, "cs:v1:test:client:1", TAGS, load)).outcome == "l1"
    clock.move(dt.timedelta(seconds=2))
    assert (await cache.fetch(LONG, "cs:v1:test:client:1", TAGS, load)).outcome == "miss"
    assert load.calls == 2


async def test_memory_is_bounded_lru(pool: asyncpg.Pool) -> None:
    cache, load = Cache(l1_max_entries=3), CountingLoader(pool)
    for i in range(4):
        await cache.fetch(LONG, f"cs:v1:test:client:{i}", (f"client:{i}",), load)
    assert len(cache.l1) == 3
    assert (await cache.fetch(LONG, "cs:v1:test:client:0", ("client:0",), load)).outcome == "miss"


async def test_single_flight_64_concurrent_misses_load_once(pool: asyncpg.Pool) -> None:
    cache = Cache()
    load = CountingLoader(pool, "select count(*) from appointments, pg_sleep(0.05)")
    results = await asyncio.gather(
        *(cache.fetch(LONG, "cs:v1:test:client:1", TAGS, load) for _ in range(64))
    )
    assert load.calls == 1
    assert len({r.entry for r in results}) == 1
    assert sum(r.loaded_here for r in results) == 1


async def test_failed_load_is_not_cached(pool: asyncpg.Pool) -> None:
    cache, load = Cache(), CountingLoader(pool, "select 1/0")
    for _ in range(2):
        with pytest.raises(asyncpg.DivisionByZeroError):
            await cache.fetch(LONG, "cs:v1:test:client:1", TAGS, load)
    assert load.calls == 2
    assert len(cache.l1) == 0


async def test_invalidation_drops_exactly_the_owner(pool: asyncpg.Pool) -> None:
    cache, load = Cache(), CountingLoader(pool)
    await cache.fetch(LONG, "cs:v1:a:client:1", ("client:1",), load)
    await cache.fetch(LONG, "cs:v1:a:client:2", ("client:2",), load)
    await cache.invalidate(("client:1",))
    assert (await cache.fetch(LONG, "cs:v1:a:client:1", ("client:1",), load)).outcome == "miss"
    assert (await cache.fetch(LONG, "cs:v1:a:client:2", ("client:2",), load)).outcome == "l1"


async def test_load_that_began_before_a_write_is_not_stored(pool: asyncpg.Pool) -> None:
    """A slow read that started before a write must not put its older answer back."""
    cache, load = Cache(), CountingLoader(pool)
    load.gate = asyncio.Event()
    slow = await begun(cache, "cs:v1:test:client:1", load)
    await cache.invalidate(TAGS)
    # A reader after the write must not join the older load either.
    after = await begun(cache, "cs:v1:test:client:1", load)
    load.gate.set()
    await slow
    assert (await after).loaded_here
    assert load.calls == 2


async def test_cache_off_always_loads(pool: asyncpg.Pool) -> None:
    cache, load = Cache.disabled(), CountingLoader(pool)
    outcomes = [(await cache.fetch(LONG, "cs:v1:t:client:1", TAGS, load)).outcome for _ in range(3)]
    assert outcomes == ["off"] * 3
    assert load.calls == 3


@pytest.mark.redis
async def test_redis_shared_between_workers(
    shared: tuple[Cache, Cache], pool: asyncpg.Pool
) -> None:
    a, b = shared
    load = CountingLoader(pool)
    assert (await a.fetch(LONG, "cs:v1:test:client:1", TAGS, load)).outcome == "miss"
    hit = await b.fetch(LONG, "cs:v1:test:client:1", TAGS, load)
    assert hit.outcome == "l2"
    assert not hit.loaded_here
    assert load.calls == 1
    assert (await b.fetch(LONG, "cs:v1:test:client:1", TAGS, load)).outcome == "l1"


@pytest.mark.redis
async def test_redis_keeps_an_entry_for_its_ttl(
    shared: tuple[Cache, Cache], pool: asyncpg.Pool, redis_url: str
) -> None:
    """Redis expires keys on its own clock, which a test cannot move: so instead of sleeping
    past the TTL, check that Redis was told the strategy's TTL (it does the rest)."""
    a, b = shared
    load = CountingLoader(pool)
    await a.fetch(LONG, "cs:v1:test:client:1", TAGS, load)
    assert a.redis is not None
    stored = a.redis._k("cs:v1:test:client:1")
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        remaining = await client.pttl(stored)
    finally:
        await client.aclose()
    assert 25_000 < remaining <= 30_000, remaining
    assert (await b.fetch(LONG, "cs:v1:test:client:1", TAGS, load)).outcome == "l2"


@pytest.mark.redis
async def test_redis_invalidation_by_owner(shared: tuple[Cache, Cache], pool: asyncpg.Pool) -> None:
    a, b = shared
    load = CountingLoader(pool)
    await a.fetch(LONG, "cs:v1:q:client:1:x", ("client:1",), load)
    await a.fetch(LONG, "cs:v1:q:client:1:y", ("client:1",), load)
    await a.fetch(LONG, "cs:v1:q:client:2", ("client:2",), load)
    await a.invalidate(("client:1",))
    assert (await b.fetch(LONG, "cs:v1:q:client:1:x", ("client:1",), load)).outcome == "miss"
    assert (await b.fetch(LONG, "cs:v1:q:client:1:y", ("client:1",), load)).outcome == "miss"
    assert (await b.fetch(LONG, "cs:v1:q:client:2", ("client:2",), load)).outcome == "l2"


@pytest.mark.redis
async def test_redis_refuses_a_store_older_than_a_write(
    shared: tuple[Cache, Cache], pool: asyncpg.Pool
) -> None:
    a, b = shared
    load = CountingLoader(pool)
    load.gate = asyncio.Event()
    slow = await begun(a, "cs:v1:test:client:1", load)
    await b.invalidate(TAGS)  # another worker's write, after a's load began
    load.gate.set()
    await slow
    assert (await b.fetch(LONG, "cs:v1:test:client:1", TAGS, load)).outcome == "miss"
