"""Per-request timing shared by the cache, the database pool and the Server-Timing header."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestTiming:
    started: float = field(default_factory=time.perf_counter)
    db_seconds: float = 0.0
    db_queries: int = 0
    cache: str | None = None  # "l1" | "l2" | "miss" | "off"
    strategy: str | None = None  # the cache strategy name, e.g. "userStats"


current: ContextVar[RequestTiming | None] = ContextVar("careslot_timing", default=None)


def note_cache(outcome: str, strategy: str) -> None:
    timing = current.get()
    if timing is not None:
        timing.cache, timing.strategy = outcome, strategy


def note_db(seconds: float) -> None:
    timing = current.get()
    if timing is not None:
        timing.db_seconds += seconds
        timing.db_queries += 1
