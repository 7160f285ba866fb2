"""Cache counters on the process's Prometheus registry."""

from __future__ import annotations

from prometheus_client import Counter

from careslot.monitoring.metrics import REGISTRY

HITS = Counter(
    "careslot_cache_hits_total",
    "Cache hits by layer and strategy",
    ["layer", "strategy"],
    registry=REGISTRY,
)
MISSES = Counter(
    "careslot_cache_misses_total", "Reads answered by PostgreSQL", ["strategy"], registry=REGISTRY
)
INVALIDATIONS = Counter(
    "careslot_cache_invalidations_total",
    "Writes that invalidated keys of a strategy",
    ["strategy"],
    registry=REGISTRY,
)
REDIS_ERRORS = Counter(
    "careslot_cache_redis_errors_total",
    "Redis calls that failed or timed out (answered from below instead)",
    registry=REGISTRY,
)
CIRCUIT_OPENS = Counter(
    "careslot_cache_redis_circuit_opens_total",
    "Times the Redis circuit breaker opened",
    registry=REGISTRY,
)
CHANNEL_LOSSES = Counter(
    "careslot_cache_channel_losses_total",
    "Times a worker lost its invalidation channel and dropped layer 1",
    registry=REGISTRY,
)
