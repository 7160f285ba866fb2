"""Layer 1: a bounded LRU in process memory, indexed by owner tag for exact invalidation."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from careslot.cache.entry import Entry
from careslot.clock import Clock, SystemClock


@dataclass(slots=True)
class _Slot:
    expires: float
    entry: Entry
    tags: tuple[str, ...]


class MemoryLayer:
    """Not thread-safe: one event loop per worker process owns it."""

    def __init__(self, max_entries: int, clock: Clock | None = None) -> None:
        self.max_entries = max_entries
        # TTLs run on the clock's monotonic time, so tests expire entries by moving it.
        self._monotonic = (clock or SystemClock()).monotonic
        self._entries: OrderedDict[str, _Slot] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        # Bumped on every invalidation of a tag; a load that began before a bump must not
        # store its (possibly older) answer afterwards.
        self._tag_generation: dict[str, int] = {}
        self._clears = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        slot = self._entries.get(key)
        if slot is None:
            return None
        if slot.expires <= self._monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return slot.entry

    def snapshot(self, tags: tuple[str, ...]) -> tuple[int, ...]:
        return (self._clears, *(self._tag_generation.get(t, 0) for t in tags))

    def put(
        self,
        key: str,
        entry: Entry,
        *,
        tags: tuple[str, ...],
        ttl: float,
        snapshot: tuple[int, ...],
    ) -> bool:
        if ttl <= 0 or self.max_entries <= 0 or snapshot != self.snapshot(tags):
            return False
        if key in self._entries:
            self._drop(key)
        self._entries[key] = _Slot(self._monotonic() + ttl, entry, tags)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))
        return True

    def invalidate(self, tags: tuple[str, ...]) -> int:
        dropped = 0
        for tag in tags:
            self._tag_generation[tag] = self._tag_generation.get(tag, 0) + 1
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
