"""The pool's gauges (size, in use, waiting), its acquire timeout, and per-request DB time."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from careslot.config import Settings
from careslot.db.pool import create_pool
from careslot.monitoring import metrics, timing


def _gauges() -> dict[str, float]:
    text = generate_latest(metrics.REGISTRY).decode()
    return {
        f.name: f.samples[0].value
        for f in text_string_to_metric_families(text)
        if f.name.startswith("careslot_db_pool_")
    }


async def test_pool_gauges_and_acquire_timeout(settings: Settings) -> None:
    small = settings.model_copy(update={"pool_min": 1, "pool_max": 1, "pool_acquire_timeout": 0.2})
    before = _gauges()
    pool = await create_pool(small, small.database_url or "")
    try:
        async with pool.acquire():
            waiter = asyncio.create_task(pool.acquire(timeout=30).__aenter__())
            await asyncio.sleep(0.05)
            busy = _gauges()
            with pytest.raises(TimeoutError):  # the configured default acquire timeout
                async with pool.acquire():
                    pass
        conn = await waiter
        await pool.release(conn)
    finally:
        metrics.untrack_pool(pool)
        await pool.close()
    assert busy["careslot_db_pool_size"] - before["careslot_db_pool_size"] == 1
    assert busy["careslot_db_pool_in_use"] - before["careslot_db_pool_in_use"] == 1
    assert busy["careslot_db_pool_waiting"] - before["careslot_db_pool_waiting"] == 1
    assert busy["careslot_db_pool_max"] - before["careslot_db_pool_max"] == 1


async def test_queries_count_into_the_request_timing(settings: Settings) -> None:
    pool = await create_pool(settings, settings.database_url or "")
    t = timing.RequestTiming()
    token = timing.current.set(t)
    try:
        async with pool.acquire() as conn:
            await conn.fetchval("select 1")
            await conn.fetchrow("select 1 as one")
            await conn.fetch("select pg_sleep(0.01)")
            await conn.execute("select 1")
    finally:
        timing.current.reset(token)
        metrics.untrack_pool(pool)
        await pool.close()
    assert t.db_queries == 4
    assert t.db_seconds >= 0.01  # pg_sleep's 10 ms at least: the clock brackets the wait
