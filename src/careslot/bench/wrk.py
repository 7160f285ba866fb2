"""Drive wrk: one process per route group, all at once, so each group has its own latency.

wrk measures latency per process (from its own send to the full response, per connection,
closed loop, not corrected for coordinated omission). Running the groups side by side keeps
the mixed load on the server while each group's percentiles stay separate.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

MARKER = "CARESLOT_BENCH_JSON "


@dataclass(slots=True)
class Group:
    name: str
    connections: int
    delay_ms: int = 0
    plan: str = ""  # the booking phase: which of the data file's booking plans to follow


def wrk_path() -> str | None:
    return shutil.which("wrk")


def script_path() -> Path:
    return Path(str(resources.files("careslot.bench").joinpath("workload.lua")))


def split_connections(total: int, weights: dict[str, float]) -> list[Group]:
    """Connections per group in proportion to weights, at least one each."""
    share = sum(weights.values())
    groups = [Group(name, max(1, round(total * w / share))) for name, w in weights.items()]
    return groups


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_groups(
    *, base_url: str, groups: list[Group], duration: float, data_file: Path, timeout_s: int = 10
) -> dict[str, Any]:
    """Run every group's wrk for `duration` seconds at once; parse their done() reports.

    The generator's CPU time is exact: all wrk processes are reaped inside this call, so the
    change in RUSAGE_CHILDREN is theirs alone.
    """
    exe = wrk_path()
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    cpu_before = _children_cpu()
    started = time.perf_counter()
    procs = []
    for group in groups:
        env = {
            **os.environ,
            "CARESLOT_BENCH_GROUP": group.name,
            "CARESLOT_BENCH_DATA": str(data_file),
            "CARESLOT_BENCH_DELAY_MS": str(group.delay_ms),
            "CARESLOT_BENCH_PLAN": group.plan,
        }
        command = [
            exe,
            "-t1",
            f"-c{group.connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(script_path()),
            base_url,
        ]
        proc = subprocess.Popen(  # noqa: S603 - wrk from PATH with our own arguments
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs.append((group, proc))
    results: dict[str, Any] = {}
    for group, proc in procs:
        out, err = proc.communicate(timeout=duration + 120)
        results[group.name] = _parse(group, out, err, proc.returncode)
    wall = time.perf_counter() - started
    return {"groups": results, "wall_s": wall, "generator_cpu_s": _children_cpu() - cpu_before}


def _parse(group: Group, out: str, err: str, code: int) -> dict[str, Any]:
    for line in out.splitlines():
        if line.startswith(MARKER):
            report: dict[str, Any] = json.loads(line[len(MARKER) :])
            report["connections"] = group.connections
            report["delay_ms"] = group.delay_ms
            duration = report["duration_s"] or 1.0
            report["rps"] = report["requests"] / duration
            return report
    raise RuntimeError(f"wrk ({group.name}) gave no report (exit {code}): {err.strip()[:400]}")
