"""RedisLayer against a real Redis (issue 13, item 8): a put never stores an answer read
before the epoch moved, and the breaker tells a slow Redis from a dead one."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import redis.asyncio

from careslot.cache.entry import Entry
from careslot.cache.redis_layer import DROPPERS_KEPT, RedisLayer
from tests.cache.conftest import OwnRedis

pytestmark = pytest.mark.redis
TAGS = ("client:42",)


def _layer(url: str, **extra: float) -> RedisLayer:
    return RedisLayer(
        url,
        timeout=0.05,
        cooldown=extra.pop("cooldown", 30.0),
        namespace=f"test-{secrets.token_hex(4)}",
        epoch=1,
        **extra,  # type: ignore[arg-type]
    )


def test_a_load_that_spans_an_epoch_move_is_not_stored(redis_url: str) -> None:
    async def scenario() -> tuple[Entry | None, Entry | None]:
        layer = _layer(redis_url)
        try:
            # A read misses and starts loading from PostgreSQL...
            found, generations = await layer.get("cs:v1:userStats:client:42", TAGS)
            assert found is None
            assert generations is not None
            # ... meanwhile a write's invalidation misses Redis, so the epoch moves on ...
            layer.epoch += 1
            # ... and the load, which began before the write, finishes and tries to store.
            stale = Entry.of(b'{"upcomingCount": 0}')
            await layer.put(
                "cs:v1:userStats:client:42", stale, tags=TAGS, ttl=30, generations=generations
            )
            after, fresh_generations = await layer.get("cs:v1:userStats:client:42", TAGS)
            # A load that starts in the new epoch is stored as usual.
            assert fresh_generations is not None
            fresh = Entry.of(b'{"upcomingCount": 1}')
            await layer.put(
                "cs:v1:userStats:client:42", fresh, tags=TAGS, ttl=30, generations=fresh_generations
            )
            stored, _ = await layer.get("cs:v1:userStats:client:42", TAGS)
            return after, stored
        finally:
            await layer.close()

    after, stored = asyncio.run(scenario())
    assert after is None  # the outdated answer was not stored in the new epoch
    assert stored is not None
    assert stored.body == b'{"upcomingCount": 1}'


def test_one_slow_reply_does_not_open_the_breaker(own_redis: OwnRedis) -> None:
    async def scenario() -> list[bool]:
        layer = _layer(own_redis.url)
        seen = []
        try:
            assert (await layer.get("k", TAGS))[1] is not None  # connected, working
            own_redis.freeze()  # every reply now times out
            try:
                for _ in range(2):
                    _, generations = await layer.get("k", TAGS)
                    assert generations is None  # a miss, answered from below
                    seen.append(layer.available)
            finally:
                own_redis.thaw()
            assert (await layer.get("k", TAGS))[1] is not None  # used again at once
            seen.append(layer.available)
            own_redis.freeze()
            try:
                for _ in range(3):
                    await layer.get("k", TAGS)
                    seen.append(layer.available)
            finally:
                own_redis.thaw()
        finally:
            await layer.close()
        return seen

    # Two timeouts: still closed; a success resets the count; three in a row open it.
    assert asyncio.run(scenario()) == [True, True, True, True, True, False]


def test_a_dead_redis_opens_the_breaker_at_once(own_redis: OwnRedis) -> None:
    async def scenario() -> tuple[bool, bool]:
        layer = _layer(own_redis.url)
        try:
            await layer.get("k", TAGS)
            own_redis.kill()
            await layer.get("k", TAGS)  # connection refused
            opened = not layer.available
            # An invalidation while open reports failure, so the caller moves the epoch.
            invalidated = await layer.invalidate(TAGS)
            return opened, invalidated
        finally:
            await layer.close()

    assert asyncio.run(scenario()) == (True, False)


def test_a_drop_still_drops_after_redis_lost_its_scripts(redis_url: str) -> None:
    """A write's drop runs its script by digest on a connection of its own; a Redis that
    restarted or flushed its scripts gets the script itself, and the keys still go."""

    async def scenario() -> tuple[bool, Entry | None]:
        layer = _layer(redis_url)
        key = "cs:v1:userStats:client:42"
        try:
            assert await layer.invalidate(TAGS)  # the digest is known to Redis now
            _, generations = await layer.get(key, TAGS)
            assert generations is not None
            await layer.put(key, Entry.of(b"{}"), tags=TAGS, ttl=30, generations=generations)
            assert (await layer.get(key, TAGS))[0] is not None
            await layer.client.script_flush()
            dropped = await layer.invalidate(TAGS)
            return dropped, (await layer.get(key, TAGS))[0]
        finally:
            await layer.close()

    assert asyncio.run(scenario()) == (True, None)


def test_concurrent_drops_keep_a_few_connections_and_follow_the_url(tmp_path: Path) -> None:
    """Twenty writes dropping at once each get a connection; afterwards at most
    DROPPERS_KEPT stay open. The drops connect as the URL says: here a Unix socket."""
    socket = tmp_path / "redis.sock"
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed"
    server = subprocess.Popen(  # noqa: S603 - Debian's redis-server
        [binary, "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def scenario() -> tuple[list[bool], int]:
        async with asyncio.timeout(10):
            while not socket.exists():
                await asyncio.sleep(0.02)
        layer = _layer(f"unix://{socket}?db=0")
        watch = redis.asyncio.Redis(unix_socket_path=str(socket))
        try:
            dropped = await asyncio.gather(*(layer.invalidate((f"t:{i}",)) for i in range(20)))
            clients = int((await watch.info("clients"))["connected_clients"]) - 1
            return list(dropped), clients
        finally:
            await layer.close()
            await watch.aclose()

    try:
        dropped, clients = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(10)
    assert dropped == [True] * 20
    assert 1 <= clients <= DROPPERS_KEPT
