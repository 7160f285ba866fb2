"""Layer 1: a bounded LRU in process memory, indexed by owner tag for exact invalidation.

Each entry keeps the generations its tags had when its load began (generations.py); a read
that finds any of them moved on, by a write in this worker or in another worker of this node,
drops the entry instead of serving it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from careslot.cache.entry import Entry
from careslot.cache.generations import Generations, slot_of
from careslot.cache.keys import EVERYTHING
from careslot.clock import Clock, SystemClock

_EVERYTHING = slot_of(EVERYTHING)  # every entry also depends on this one


@dataclass(frozen=True, slots=True, eq=False)  # compared through MemoryLayer.current
class Snapshot:
    """What a load saw before it began: the layer's clears and its tags' generations."""

    clears: int
    read: Callable[[memoryview], object]  # the tags' generations from the table, in one call
    generations: object  # what `read` gave then


@dataclass(slots=True)
class _Slot:
    expires: float
    entry: Entry
    tags: tuple[str, ...]
    seen: Snapshot


class MemoryLayer:
    """Not thread-safe: one event loop per worker process owns it."""

    def __init__(
        self, max_entries: int, clock: Clock | None = None, generations: Generations | None = None
    ) -> None:
        self.max_entries = max_entries
        # TTLs run on the clock's monotonic time, so tests expire entries by moving it.
        self._monotonic = (clock or SystemClock()).monotonic
        self._entries: OrderedDict[str, _Slot] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        # Bumped on every invalidation of a tag, here or in a sibling worker: an entry, or a
        # load, that began before a bump must not be served (or stored) afterwards.
        self.generations = generations or Generations()
        self._table = self.generations.view
        self._clears = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        slot = self._entries.get(key)
        if slot is None:
            return None
        if slot.expires <= self._monotonic() or not self.current(slot.seen):
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return slot.entry

    def snapshot(self, tags: tuple[str, ...]) -> Snapshot:
        read = itemgetter(_EVERYTHING, *[slot_of(t) for t in tags])
        return Snapshot(self._clears, read, read(self._table))

    def current(self, seen: Snapshot) -> bool:
        """Whether nothing was invalidated since `seen` was taken."""
        return seen.clears == self._clears and seen.read(self._table) == seen.generations

    def put(
        self,
        key: str,
        entry: Entry,
        *,
        tags: tuple[str, ...],
        ttl: float,
        snapshot: Snapshot,
    ) -> bool:
        if ttl <= 0 or self.max_entries <= 0 or not self.current(snapshot):
            return False
        if key in self._entries:
            self._drop(key)
        self._entries[key] = _Slot(self._monotonic() + ttl, entry, tags, snapshot)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))
        return True

    def invalidate(self, tags: tuple[str, ...]) -> int:
        """Make the tags' entries stale in every worker of this node; drop this worker's."""
        self.generations.bump(tags)
        if EVERYTHING in tags:
            dropped = len(self._entries)
            self.clear()
            return dropped
        dropped = 0
        for tag in tags:
            for key in self._by_tag.pop(tag, ()):
                dropped += self._drop(key)
        return dropped

    def clear(self) -> None:
        self._clears += 1
        self._entries.clear()
        self._by_tag.clear()

    def _drop(self, key: str) -> int:
        slot = self._entries.pop(key, None)
        if slot is None:
            return 0
        for tag in slot.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
        return 1
