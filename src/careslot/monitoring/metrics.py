"""Prometheus metrics for careslot (one registry per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

PAGE_LOAD = Histogram(
    "careslot_page_load_seconds", "Browser page timings from the page-load beacon",
    ["route", "metric"], registry=REGISTRY,
    buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
)

KNOWN_ROUTES = frozenset({"/", "/login", "/register", "/dashboard", "/book", "/appointments",
                          "/calendar", "/desk", "/doctor", "/offline"})


def observe_page_load(route: str, **timings: float | None) -> None:
    label = route if route in KNOWN_ROUTES else "other"  # bounded label set
    for metric, ms in timings.items():
        if ms is not None:
            PAGE_LOAD.labels(label, metric).observe(ms / 1000)
