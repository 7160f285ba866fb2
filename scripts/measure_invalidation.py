"""Cost of one write's cache invalidation, in process: what a booking adds after its commit.

    careslot bench --quick --appointments 10000        # once: seeds careslot_bench_10000
    DATABASE_URL=postgresql://…/careslot_bench_10000 REDIS_URL=redis://…/14 \\
        python scripts/measure_invalidation.py

Builds the cache a worker builds (Redis layer, invalidation bus, generation table), then
invalidates a booking's tags (the patient, the doctor, the day's and the range's slot lists
of the doctor and the department, the staff lists) --calls times, one after another, and
prints wall and process CPU time per call for the whole invalidation and for its Redis and
NOTIFY parts alone. This process is the only listener, so no acknowledgement is awaited:
the figure is the write's own cost. A lone node's write sends no NOTIFY and runs no
statement (bus.py), so its NOTIFY part is next to nothing; with a worker of another node
listening, it is the count-and-NOTIFY statement.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Awaitable, Callable

import asyncpg
import uvloop

from careslot.cache.invalidation import affected
from careslot.cache.setup import build_cache
from careslot.config import Settings
from careslot.events import Change


async def timed(name: str, call: Callable[[], Awaitable[object]], calls: int) -> None:
    for _ in range(calls // 20):
        await call()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:12} wall {wall / calls * 1e6:7.1f} µs   CPU {cpu / calls * 1e6:7.1f} µs")


async def _no_lookup(doctor_ids: list[int]) -> list[int]:
    raise AssertionError("the change names its department")


async def measure(database_url: str, redis_url: str, calls: int) -> None:
    settings = Settings(database_url=database_url, redis_url=redis_url)
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    cache = build_cache(settings, database_url=database_url, pool=pool)
    await cache.start()
    try:
        assert cache.redis is not None
        assert cache.bus is not None
        redis, bus = cache.redis, cache.bus
        day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)
        booked = Change("booked", (5,), (3,), 1, (day,), department_ids=(1,))
        tags, _ = await affected(booked, _no_lookup)  # the tags a booking invalidates
        await timed("invalidate", lambda: cache.invalidate(tags), calls)
        await timed("redis", lambda: redis.invalidate(tags), calls)
        await timed("notify", lambda: bus.broadcast(pool, tags, None), calls)
    finally:
        await cache.stop()
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    database_url = os.environ["DATABASE_URL"]
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    uvloop.run(measure(database_url, redis_url, args.calls))


if __name__ == "__main__":
    main()
