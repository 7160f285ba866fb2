"""Build the cache a worker process uses, from its settings."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import asyncpg

from careslot.cache import repository as repo
from careslot.cache.bus import InvalidationBus
from careslot.cache.core import Cache
from careslot.cache.generations import Generations
from careslot.cache.invalidation import affected
from careslot.cache.redis_layer import RedisLayer
from careslot.clock import Clock
from careslot.config import Settings
from careslot.events import Change, ChangeBus


def database_namespace(database_url: str) -> str:
    """A short name for the database (host, port, name; never the password)."""
    parts = urlsplit(database_url)
    where = f"{parts.hostname}:{parts.port}{parts.path}?{parts.query}"
    return hashlib.blake2b(where.encode(), digest_size=5).hexdigest()


def build_cache(
    settings: Settings, *, database_url: str, pool: asyncpg.Pool, clock: Clock | None = None
) -> Cache:
    if not settings.cache_enabled:
        return Cache.disabled()
    # Shared with the sibling workers of this `careslot serve`, or this process's own.
    generations = Generations(settings.node_generations)
    redis = None
    if settings.redis_url:
        redis = RedisLayer(
            settings.redis_url,
            timeout=settings.cache_redis_timeout_ms / 1000,
            cooldown=settings.cache_redis_cooldown_seconds,
            failures_to_open=settings.cache_redis_failures_to_open,
            namespace=database_namespace(database_url),
            generations=generations,
        )
    cache = Cache(
        enabled=True,
        l1_max_entries=settings.cache_l1_max_entries,
        redis=redis,
        pool=pool,
        clock=clock,
        generations=generations,
    )
    cache.bus = InvalidationBus(
        database_url,
        node=generations.node,
        on_remote=cache.apply_remote,
        on_lost=cache.on_channel_lost,
        on_restored=cache.on_channel_restored,
        ack_timeout=settings.cache_ack_timeout_ms / 1000,
        health_every=settings.cache_channel_check_seconds,
    )
    return cache


def subscribe(cache: Cache, changes: ChangeBus, pool: asyncpg.Pool) -> None:
    """Every committed write invalidates its keys before its response (the bus awaits us)."""
    if not cache.enabled:
        return

    async def departments_of(doctor_ids: list[int]) -> list[int]:
        if cache.bus is None:
            async with pool.acquire() as conn:
                return await repo.departments_of(conn, doctor_ids)
        return await cache.bus.run(pool, lambda conn: repo.departments_of(conn, doctor_ids))

    async def on_change(change: Change) -> None:
        tags, strategies = await affected(change, departments_of)
        await cache.invalidate(tags, strategies)

    changes.subscribe(on_change)
