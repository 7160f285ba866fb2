"""bench.png: latency percentiles per route before vs after, and throughput (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHART_NAME = "bench.png"
SERIES = (
    ("p50", "off", "#fca5a5"),
    ("p95", "off", "#ef4444"),
    ("p99", "off", "#991b1b"),
    ("p50", "on", "#93c5fd"),
    ("p95", "on", "#3b82f6"),
    ("p99", "on", "#1e3a8a"),
)


def _latency_bars(
    axis: Any,
    before: dict[str, Any],
    after: dict[str, Any],
    title: str,
) -> None:
    routes = [
        name
        for name in after
        if name in before and after[name]["requests"] and before[name]["requests"]
    ]
    width = 0.13
    for i, (p, cache, colour) in enumerate(SERIES):
        mode = before if cache == "off" else after
        xs = [j + (i - 2.5) * width for j in range(len(routes))]
        values = [max(mode[name][p], 0.01) for name in routes]
        axis.bar(xs, values, width, label=f"{p}, cache {cache}", color=colour)
    axis.set_yscale("log")
    axis.set_xticks(range(len(routes)), routes, rotation=20, fontsize=8)
    axis.set_ylabel("latency, ms (log scale)")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, ncols=2)
    axis.grid(axis="y", which="both", alpha=0.3)


def draw(out: Path, summary: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    before, after = summary["before"], summary["after"]
    fig, axes = plt.subplots(1, 3, figsize=(20, 5.5), gridspec_kw={"width_ratios": [3, 3, 1.3]})
    target = before["paced_mixed"]["target_rps"]
    _latency_bars(
        axes[0],
        before["routes_paced"],
        after["routes_paced"],
        f"Mixed, equal offered load ({target:.0f} req/s): latency per route",
    )
    _latency_bars(
        axes[1], before["routes"], after["routes"], "Mixed at saturation: latency per route"
    )
    right = axes[2]
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
