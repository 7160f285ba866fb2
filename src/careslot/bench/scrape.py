"""/metrics before and after a run, summed over workers.

Every uvicorn worker keeps its own registry, so one scrape shows one worker. The bench
scrapes through several simultaneous fresh connections until it has seen each worker (told
apart by their counters) and sums them. Idle workers that have served exactly the same requests look
alike; their shared snapshot then stands for each of the workers not told apart.
"""

from __future__ import annotations

import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+\d.eE]+|NaN|[-+]Inf)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
FAMILIES = (
    "careslot_cache_hits_total",
    "careslot_cache_misses_total",
    "careslot_db_query_duration_seconds_count",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line.strip())
        if not match or match.group(1) not in FAMILIES:
            continue
        labels = tuple(sorted(LABEL.findall(match.group(2) or "")))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def snapshot(base_url: str, *, workers: int) -> dict[str, Any]:
    """Counters summed over workers; `complete` says whether each worker was told apart."""
    seen: dict[tuple[Any, ...], Samples] = {}
    available = True

    def scrape() -> httpx.Response | None:
        try:  # a new connection each: simultaneous ones spread over the workers
            return httpx.get(f"{base_url}/metrics", timeout=5.0, headers={"Connection": "close"})
        except httpx.HTTPError:
            return None

    with ThreadPoolExecutor(max_workers=2 * workers) as pool:
        for _ in range(4):
            for answer in pool.map(lambda _: scrape(), range(2 * workers)):
                if answer is None:
                    continue
                if answer.status_code != 200:
                    available = False
                    continue
                samples = parse(answer.text)
                seen[tuple(sorted(samples.items()))] = samples
            if len(seen) >= workers or not available:
                break
    if not available or not seen:
        return {"available": False}
    distinct = list(seen.values())
    total: Samples = defaultdict(float)
    for samples in distinct:
        for key, value in samples.items():
            total[key] += value
    smallest = min(distinct, key=lambda s: sum(s.values()))
    for _ in range(workers - len(distinct)):
        for key, value in smallest.items():
            total[key] += value
    return {"available": True, "samples": dict(total), "complete": len(distinct) == workers}


def cache_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Hits per layer and misses over the run, and the hit rates they make."""
    if not (before.get("available") and after.get("available")):
        return {"available": False}
    hits: dict[str, float] = defaultdict(float)
    misses = 0.0
    queries = 0.0
    for (family, labels), value in after["samples"].items():
        change = value - before["samples"].get((family, labels), 0.0)
        label = dict(labels)
        if family == "careslot_cache_hits_total":
            hits[label.get("layer", "?")] += change
        elif family == "careslot_cache_misses_total":
            misses += change
        else:
            queries += change
    reads = sum(hits.values()) + misses
    has_cache = any(f.startswith("careslot_cache") for f, _ in after["samples"])
    return {
        "available": has_cache,
        "complete": bool(before.get("complete") and after.get("complete")),
        "hits": dict(hits),
        "misses": misses,
        "reads": reads,
        "hit_rate": (sum(hits.values()) / reads) if reads else None,
        "hit_rate_by_layer": {layer: n / reads for layer, n in hits.items()} if reads else {},
        "db_round_trips": queries,
    }
