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
from prometheus_client import Counter

from careslot.cache import keys, metrics
from careslot.cache import repository as repo
from careslot.cache.bus import InvalidationBus
from careslot.cache.entry import Entry
from careslot.cache.generations import Generations
from careslot.cache.memory import MemoryLayer, Snapshot
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


@dataclass(frozen=True, slots=True)
class Answer:
    """A read's answer as sent: the stored bytes (with their ETag) and the strategy whose
    headers go with them."""

    entry: Entry
    strategy: Strategy


@dataclass(frozen=True, slots=True)
class _Flight:
    """A load under way in this process, and what it saw when it began."""

    task: asyncio.Task[tuple[Entry, str]]
    tags: tuple[str, ...]
    snapshot: Snapshot


# Each outcome's labelled counter, looked up once: labels() validates and locks on every
# call: 3.5 µs of a cached dashboard's 62.5 (two reads, the session and the stats), measured
# with scripts/measure_hot_reads.py.
_COUNTERS: dict[tuple[str, str], Counter] = {}


def _record(outcome: str, strategy: str) -> None:
    note_cache(outcome, strategy)
    counter = _COUNTERS.get((outcome, strategy))
    if counter is None:
        if outcome == "miss":
            counter = metrics.MISSES.labels(strategy)
        elif outcome in ("l1", "l2"):
            counter = metrics.HITS.labels(outcome, strategy)
        else:
            return  # the cache is off: nothing to count
        _COUNTERS[(outcome, strategy)] = counter
    counter.inc()


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
        generations: Generations | None = None,
    ) -> None:
        self.enabled = enabled
        self.l1 = MemoryLayer(l1_max_entries, clock=clock or SystemClock(), generations=generations)
        self.redis = redis
        self.pool = pool
        self.bus = bus
        self._flights: dict[str, _Flight] = {}

    @classmethod
    def disabled(cls) -> Cache:
        return cls(enabled=False)

    @property
    def listening(self) -> bool:
        """Whether this worker hears other workers' invalidations (else: no cache here)."""
        return self.bus is None or self.bus.ready

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
        # Join a load in this process only if nothing it covers was invalidated since it
        # began (a sibling worker's write drops no flight here; it moves the generations).
        if flight is not None and self.l1.current(flight.snapshot):
            entry, _ = await asyncio.shield(flight.task)
            _record("l1", strategy.name)
            return Fetched(entry, "l1", False)
        snapshot = self.l1.snapshot(tags)
        task = asyncio.create_task(self._load(strategy, key, tags, loader, snapshot))
        self._flights[key] = _Flight(task, tags, snapshot)
        task.add_done_callback(lambda t: self._landed(key, t))
        entry, outcome = await asyncio.shield(task)
        _record(outcome, strategy.name)
        return Fetched(entry, outcome, outcome == "miss")

    async def answer(
        self, strategy: Strategy, key: str, tags: tuple[str, ...], loader: Loader
    ) -> Answer:
        """`fetch`, for a read that is sent as it is stored."""
        return Answer((await self.fetch(strategy, key, tags, loader)).entry, strategy)

    def _landed(self, key: str, task: asyncio.Task[tuple[Entry, str]]) -> None:
        if key in self._flights and self._flights[key].task is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, so a failed load nobody awaits stays quiet

    async def _load(
        self,
        strategy: Strategy,
        key: str,
        tags: tuple[str, ...],
        loader: Loader,
        snapshot: Snapshot,
    ) -> tuple[Entry, str]:
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
        """Drop the tags here and make them stale in every sibling worker of this node."""
        self.l1.invalidate(tags)
        if keys.EVERYTHING in tags:
            stale = list(self._flights)
        else:
            wanted = set(tags)
            stale = [k for k, f in self._flights.items() if wanted.intersection(f.tags)]
        for key in stale:  # later readers start a fresh load instead of joining an old one
            self._flights.pop(key, None)

    def apply_remote(self, tags: tuple[str, ...], epoch: int | None) -> None:
        """Another node's write."""
        self._drop_local(tags)
        if epoch is not None and self.redis is not None:
            self.redis.epoch = epoch

    async def invalidate(self, tags: tuple[str, ...], strategies: tuple[str, ...] = ()) -> None:
        """After a commit, before its answer: drop what the write made stale everywhere.

        Redis first, then this node's generations and the other nodes, in that order: a
        worker that drops its layer-1 answer reads layer 2 next, so layer 2 must not hold the
        old answer any more by then, or the old answer comes back under the new generations.
        If Redis missed the drop, layer 2 moves to a new epoch instead, and the other nodes
        hear of that in the same message, before we return."""
        if not self.enabled or not tags:
            return
        reached = self.redis is None
        try:
            if self.redis is not None:
                reached = await self._invalidate_redis(tags)
        finally:
            epoch = None if reached else await self._move_epoch()
            self._drop_local(tags)
            await self._tell_other_nodes(tags, epoch)
        for name in strategies:
            metrics.INVALIDATIONS.labels(name).inc()

    async def _invalidate_redis(self, tags: tuple[str, ...]) -> bool:
        assert self.redis is not None
        return keys.EVERYTHING not in tags and await self.redis.invalidate(tags)

    async def _move_epoch(self) -> int | None:
        """Abandon every layer-2 key written so far (Redis missed an invalidation)."""
        if self.redis is None or self.pool is None:
            return None
        async with self.pool.acquire() as conn:
            epoch = await repo.next_epoch(conn)
        self.redis.epoch = epoch
        return epoch

    async def _tell_other_nodes(self, tags: tuple[str, ...], epoch: int | None) -> None:
        if self.bus is not None and self.pool is not None:
            await self.bus.broadcast(self.pool, tags, epoch)

    # -- life cycle -----------------------------------------------------------------

    def on_channel_lost(self) -> None:
        self._forget_all()

    async def on_channel_restored(self) -> None:
        self._forget_all()
        await self._refresh_epoch()

    def _forget_all(self) -> None:
        """This worker only: it may have missed other nodes' writes."""
        self.l1.clear()
        self._flights.clear()

    async def _refresh_epoch(self) -> None:
        if self.redis is not None and self.pool is not None:
            async with self.pool.acquire() as conn:
                self.redis.epoch = await repo.epoch(conn)

    async def start(self) -> None:
        if not self.enabled:
            return
        await self._refresh_epoch()
        if self.bus is not None:
            await self.bus.start()

    async def stop(self) -> None:
        for flight in list(self._flights.values()):
            flight.task.cancel()
        if self.bus is not None:
            await self.bus.stop()
        if self.redis is not None:
            await self.redis.close()
