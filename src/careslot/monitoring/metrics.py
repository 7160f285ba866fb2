"""Prometheus metrics for careslot (one registry per process).

With `--workers N` every uvicorn worker has its own registry, so a scrape sees one worker;
Prometheus sums workers when each is scraped separately. prometheus_client's multiprocess
mode would merge them but does not support callback gauges (pool size, MV age), which is
why careslot keeps one registry per process.
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)


class _Series:
    """One label combination: bucket counts and sum, updated without locks.

    Observations happen on the event loop thread; prometheus_client's Histogram takes a
    lock per observe, paid on every query and request: 1.6 us against 0.3 us here per
    labelled observe, median (tests/monitoring/test_overheads.py, --benchmark-only).
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class LightHistogram(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        buckets: tuple[float, ...],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.bounds = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], _Series] = {}
        registry.register(self)

    def labels(self, *values: str) -> _Series:
        series = self._series.get(values)
        if series is None:
            series = self._series.setdefault(values, _Series(self.bounds))
        return series

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=list(self.labelnames))
        for values, series in list(self._series.items()):
            running, cumulative = 0, []
            for bound, count in zip((*self.bounds, float("inf")), series.counts, strict=True):
                running += count
                cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
            family.add_metric(list(values), cumulative, series.sum)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=list(self.labelnames))


# Sub-millisecond buckets: a cached answer costs about as much as the bare HTTP stack.
FAST_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0)

PAGE_LOAD = Histogram(
    "careslot_page_load_seconds",
    "Browser page timings from the page-load beacon",
    ["route", "metric"],
    registry=REGISTRY,
    buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
)
REQUEST_SECONDS = LightHistogram(
    "careslot_request_duration_seconds",
    "HTTP request latency per route template",
    ("method", "route"),
    FAST_BUCKETS,
)
SLOW_REQUESTS = Counter(
    "careslot_slow_requests",
    "Requests slower than CARESLOT_SLOW_MS",
    ["route"],
    registry=REGISTRY,
)
NOT_MODIFIED = Counter(
    "careslot_not_modified",
    "GET answers revalidated with 304 Not Modified",
    ["route"],
    registry=REGISTRY,
)
DB_QUERY_SECONDS = LightHistogram(
    "careslot_db_query_duration_seconds",
    "Time of each database round trip (client side)",
    (),
    FAST_BUCKETS,
).labels()
MV_REFRESH_SECONDS = Gauge(
    "careslot_mv_refresh_duration_seconds",
    "Duration of the last dashboard_stats_mv refresh",
    registry=REGISTRY,
)
MV_REFRESHES = Counter(
    "careslot_mv_refreshes",
    "dashboard_stats_mv refresh attempts by this worker",
    ["outcome"],
    registry=REGISTRY,
)

KNOWN_ROUTES = frozenset(
    {
        "/",
        "/login",
        "/register",
        "/dashboard",
        "/book",
        "/appointments",
        "/calendar",
        "/desk",
        "/doctor",
        "/offline",
    }
)


def observe_page_load(route: str, **timings: float | None) -> None:
    label = route if route in KNOWN_ROUTES else "other"  # bounded label set
    for metric, ms in timings.items():
        if ms is not None:
            PAGE_LOAD.labels(label, metric).observe(ms / 1000)


# --- MV age: the newest refresh time this process has seen (refreshed it, or read it) ---
_mv_refreshed_at: float | None = None


def note_mv_refreshed(at_epoch: float) -> None:
    global _mv_refreshed_at
    if _mv_refreshed_at is None or at_epoch > _mv_refreshed_at:
        _mv_refreshed_at = at_epoch


def _mv_age() -> float:
    return float("nan") if _mv_refreshed_at is None else max(0.0, time.time() - _mv_refreshed_at)


MV_AGE = Gauge(
    "careslot_mv_age_seconds",
    "Age of dashboard_stats_mv (since its last refresh)",
    registry=REGISTRY,
)
MV_AGE.set_function(_mv_age)


# --- Pool gauges, read at scrape time from every live pool in this process ---
_pools: weakref.WeakSet[Any] = weakref.WeakSet()


def track_pool(pool: Any) -> None:
    _pools.add(pool)


def untrack_pool(pool: Any) -> None:
    _pools.discard(pool)


def _waiting(pool: Any) -> int:
    # asyncpg has no public "waiters" API; its holder queue's getters are the waiting acquires.
    queue = getattr(pool, "_queue", None)
    getters = getattr(queue, "_getters", None)
    return sum(1 for f in getters if not f.done()) if getters is not None else 0


class PoolCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("careslot_db_pool_size", "Open connections in the pool")
        in_use = GaugeMetricFamily("careslot_db_pool_in_use", "Connections lent out")
        waiting = GaugeMetricFamily("careslot_db_pool_waiting", "Acquires waiting for one")
        maximum = GaugeMetricFamily("careslot_db_pool_max", "Configured pool maximum")
        totals = [0, 0, 0, 0]
        for pool in list(_pools):
            if pool.is_closing():
                continue
            open_, idle = pool.get_size(), pool.get_idle_size()
            totals[0] += open_
            totals[1] += open_ - idle
            totals[2] += _waiting(pool)
            totals[3] += pool.get_max_size()
        for family, value in zip((size, in_use, waiting, maximum), totals, strict=True):
            family.add_metric([], value)
            yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


REGISTRY.register(PoolCollector())


# --- The outbox (careslot.messages.sender): what waits, and what each attempt did ---
OUTBOX_DEPTH = Gauge(
    "careslot_outbox_depth",
    "Messages due and not yet delivered (pending or held), as the sending worker last saw "
    "them, counted up to 10,000",
    registry=REGISTRY,
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "careslot_outbox_oldest_pending_seconds",
    "How long the oldest due, undelivered message has been waiting",
    registry=REGISTRY,
)
OUTBOX_SENT = Counter(
    "careslot_outbox_sent",
    "Messages delivered by this worker",
    ("channel",),
    registry=REGISTRY,
)
WAITLIST_OFFERS = Counter(
    "careslot_waitlist_offers",
    "Waitlist offers by what became of them: made, accepted, declined, expired",
    ("outcome",),
    registry=REGISTRY,
)
WAITLIST_REBOOKED_MINUTES = Histogram(
    "careslot_waitlist_rebooked_minutes",
    "Minutes from a slot being freed (a cancellation, ...) to its offer being accepted",
    buckets=(1, 2, 5, 10, 15, 30, 60, 120, 240, 1440),
    registry=REGISTRY,
)
OUTBOX_FAILED = Counter(
    "careslot_outbox_failed",
    "Messages given up on (permanent error, or still failing after the give-up time)",
    ("channel",),
    registry=REGISTRY,
)
OUTBOX_RETRIES = Counter(
    "careslot_outbox_retries",
    "Failed attempts that will be retried with back-off",
    ("channel",),
    registry=REGISTRY,
)


# --- Beyond one machine: the leader roles and the read replica (SPEC section 11) ---
LEADER = Gauge(
    "careslot_leader",
    "1 while this process holds the role's advisory lock (mv_refresher, outbox_sender)",
    ("role",),
    registry=REGISTRY,
)
REPLICA_LAG_SECONDS = Gauge(
    "careslot_replica_lag_seconds",
    "How far behind the primary the replica was at the last probe (-1: down or none)",
    registry=REGISTRY,
)
LAGGING_READS = Counter(
    "careslot_lagging_reads",
    "Reads that may lag (stream, hospital figures) by where they went: replica or primary",
    ("target",),
    registry=REGISTRY,
)
