"""bench.png: latency percentiles per route before vs after, and throughput (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHART_NAME = "bench.png"


def draw(out: Path, summary: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    before, after = summary["before"], summary["after"]
    routes = [name for name in after["routes"] if name in before["routes"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5),
                                      gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.13
    series = [("p50", "off", before, "#fca5a5"), ("p95", "off", before, "#ef4444"),
              ("p99", "off", before, "#991b1b"), ("p50", "on", after, "#93c5fd"),
              ("p95", "on", after, "#3b82f6"), ("p99", "on", after, "#1e3a8a")]
    for i, (p, cache, mode, colour) in enumerate(series):
        xs = [j + (i - 2.5) * width for j in range(len(routes))]
        values = [max(mode["routes"][name][p], 0.01) for name in routes]
        left.bar(xs, values, width, label=f"{p}, cache {cache}", color=colour)
    left.set_yscale("log")
    left.set_xticks(range(len(routes)), routes, rotation=15)
    left.set_ylabel("latency, ms (log scale)")
    left.set_title("Mixed workload: latency per route group, cache off vs on")
    left.legend(fontsize=8, ncols=2)
    left.grid(axis="y", which="both", alpha=0.3)

    labels = ["/healthz\nfloor", "mixed", "dashboard\nalone"]
    off = [before["floor"]["rps"], before["rps"], before["dashboard_alone"]["rps"]]
    on = [after["floor"]["rps"], after["rps"], after["dashboard_alone"]["rps"]]
    places = list(range(len(labels)))
    right.bar([x - 0.2 for x in places], off, 0.4, label="cache off", color="#ef4444")
    right.bar([x + 0.2 for x in places], on, 0.4, label="cache on", color="#3b82f6")
    right.set_xticks(places, labels)
    right.set_ylabel("requests/s")
    right.set_title("Throughput")
    right.legend(fontsize=8)
    right.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = out / CHART_NAME
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
