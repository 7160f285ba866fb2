"""The cache: layer 1 (memory), layer 2 (Redis), layer 3 (the loader, i.e. PostgreSQL).

`fetch` answers a read from the fastest layer that holds it and loads it once per process
when none does (single flight). `invalidate` drops an owner's keys in every layer and every
worker; it runs after commit and before the write's response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from careslot.cache import keys, metrics
from careslot.cache import repository as repo
from careslot.cache.bus import InvalidationBus
from careslot.cache.entry import Entry
from careslot.cache.memory import MemoryLayer
from careslot.cache.redis_layer import RedisLayer
from careslot.cache.strategies import Strategy
from careslot.clock import Clock, SystemClock
from careslot.monitoring.timing import note_cache

log = logging.getLogger("careslot.cache")
Loader = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Fetched:
    entry: Entry
    outcome: str  # "l1" | "l2" | "miss" | "off"
    loaded_here: bool  # this call ran the loader (so the service already audited the read)


def _record(outcome: str, strategy: str) -> None:
    note_cache(outcome, strategy)
    if outcome == "miss":
        metrics.MISSES.labels(strategy).inc()
    elif outcome in ("l1", "l2"):
        metrics.HITS.labels(outcome, strategy).inc()


class Cache:
    def __init__(
        self,
        *,
        enabled: bool = True,
        l1_max_entries: int = 10_000,
        redis: RedisLayer | None = None,
        pool: asyncpg.Pool | None = None,
        bus: InvalidationBus | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.enabled = enabled
        self.l1 = MemoryLayer(l1_max_entries, clock=clock or SystemClock())
        self.redis = redis
        self.pool = pool
        self.bus = bus
        self._flights: dict[str, tuple[asyncio.Task[tuple[Entry, str]], tuple[str, ...]]] = {}

    @classmethod
    def disabled(cls) -> Cache:
        return cls(enabled=False)

    @property
    def listening(self) -> bool:
        """Whether this worker hears other workers' invalidations (else: no cache here)."""
        return self.bus is None or self.bus.connected

    async def fetch(
        self, strategy: Strategy, key: str, tags: tuple[str, ...], loader: Loader
    ) -> Fetched:
        if not self.enabled or not self.listening:
            body = await loader()
            _record("off" if not self.enabled else "miss", strategy.name)
            return Fetched(Entry.of(body), "off" if not self.enabled else "miss", True)
        remembered = self.l1.get(key)
        if remembered is not None:
            _record("l1", strategy.name)
            return Fetched(remembered, "l1", False)
        flight = self._flights.get(key)
        if flight is not None:  # someone in this process is loading it: wait for them
            entry, _ = await asyncio.shield(flight[0])
            _record("l1", strategy.name)
            return Fetched(entry, "l1", False)
        task = asyncio.create_task(self._load(strategy, key, tags, loader))
        self._flights[key] = (task, tags)
        task.add_done_callback(lambda t: self._landed(key, t))
        entry, outcome = await asyncio.shield(task)
        _record(outcome, strategy.name)
        return Fetched(entry, outcome, outcome == "miss")

    def _landed(self, key: str, task: asyncio.Task[tuple[Entry, str]]) -> None:
        if key in self._flights and self._flights[key][0] is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, so a failed load nobody awaits stays quiet

    async def _load(
        self, strategy: Strategy, key: str, tags: tuple[str, ...], loader: Loader
    ) -> tuple[Entry, str]:
        snapshot = self.l1.snapshot(tags)
        generations: list[str] | None = None
        if self.redis is not None:
            found, generations = await self.redis.get(key, tags)
            if found is not None:
                self.l1.put(key, found, tags=tags, ttl=strategy.l1_ttl, snapshot=snapshot)
                return found, "l2"
        entry = Entry.of(await loader())  # a failed load raises: nothing is stored
        self.l1.put(key, entry, tags=tags, ttl=strategy.l1_ttl, snapshot=snapshot)
        if self.redis is not None and generations is not None:
            await self.redis.put(key, entry, tags=tags, ttl=strategy.ttl, generations=generations)
        return entry, "miss"

    # -- invalidation ---------------------------------------------------------------

    def _drop_local(self, tags: tuple[str, ...]) -> None:
        if keys.EVERYTHING in tags:
            self.l1.clear()
            stale = list(self._flights)
        else:
            self.l1.invalidate(tags)
            wanted = set(tags)
            stale = [k for k, (_, owners) in self._flights.items() if wanted.intersection(owners)]
        for key in stale:  # later readers start a fresh load instead of joining an old one
            self._flights.pop(key, None)

    def apply_remote(self, tags: tuple[str, ...], epoch: int | None) -> None:
        self._drop_local(tags)
        if epoch is not None and self.redis is not None and epoch > self.redis.epoch:
            self.redis.epoch = epoch

    async def invalidate(self, tags: tuple[str, ...], strategies: tuple[str, ...] = ()) -> None:
        if not self.enabled or not tags:
            return
        self._drop_local(tags)
        epoch: int | None = None
        if self.redis is not None:
            reached = keys.EVERYTHING not in tags and await self.redis.invalidate(tags)
            if not reached and self.pool is not None:
                # Redis missed this invalidation: abandon every layer-2 key written so far.
                async with self.pool.acquire() as conn:
                    epoch = await repo.next_epoch(conn)
                self.redis.epoch = max(self.redis.epoch, epoch)
        if self.bus is not None and self.pool is not None:
            await self.bus.broadcast(self.pool, tags, epoch)
        for name in strategies:
            metrics.INVALIDATIONS.labels(name).inc()

    # -- life cycle -----------------------------------------------------------------

    def on_channel_lost(self) -> None:
        self.l1.clear()
        self._drop_local((keys.EVERYTHING,))

    async def on_channel_restored(self) -> None:
        self._drop_local((keys.EVERYTHING,))
        await self._refresh_epoch()

    async def _refresh_epoch(self) -> None:
        if self.redis is not None and self.pool is not None:
            async with self.pool.acquire() as conn:
                self.redis.epoch = max(self.redis.epoch, await repo.epoch(conn))

    async def start(self) -> None:
        if not self.enabled:
            return
        await self._refresh_epoch()
        if self.bus is not None:
            await self.bus.start()

    async def stop(self) -> None:
        for task, _ in list(self._flights.values()):
            task.cancel()
        if self.bus is not None:
            await self.bus.stop()
        if self.redis is not None:
            await self.redis.close()
