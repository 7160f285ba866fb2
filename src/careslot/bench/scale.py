"""`careslot bench --scale`: dashboard and slots p50 at 10k, 100k and 1M appointments.

Each size gets its own database (seeded with the bulk seeder, or reused with --reuse-db)
and two short runs of the dashboard and slots groups side by side, cache off then on.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console

from careslot.bench import database, population, report, wrk
from careslot.bench.server import CareslotServer, bench_redis_url, clear_bench_cache
from careslot.bench.summary import TIMES
from careslot.config import Settings

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)


def _size_run(
    size: int,
    *,
    out: Path,
    workers: int,
    reuse: bool,
    duration: float,
    connections: int,
    settings: Settings,
    console: Console,
) -> dict[str, Any]:
    db = database.prepare(settings, appointments=size, reuse=reuse, console=console)
    row: dict[str, Any] = {
        "appointments": db.appointments,
        "database": db.name,
        "reused": db.reused,
        "seed_seconds": db.seed_seconds,
    }
    if db.seed_seconds:
        row["seed_seconds_per_million"] = db.seed_seconds * 1_000_000 / max(1, db.appointments)
    data_file = None
    half = max(1, connections // 2)  # dashboard and slots side by side
    groups = [wrk.Group("dashboard", half), wrk.Group("slots", half)]
    redis_url = bench_redis_url(settings.redis_url)
    for cache in ("off", "on"):
        clear_bench_cache(redis_url)
        with CareslotServer(
            database_url=db.url,
            cache=cache,
            workers=workers,
            log_path=out / f"scale-{size}-{cache}.log",
            extra_env={"REDIS_URL": redis_url} if redis_url else None,
        ) as server:
            if data_file is None:
                pop = population.gather(
                    base_url=server.base_url,
                    database_url=db.url,
                    patients=40,
                    doctors_for_slots=0,
                    zone=settings.zone,
                )
                data_file = population.write_lua_data(
                    out / f"scale-{size}-data.lua", pop, run_id=uuid.uuid4().hex[:12], book_slots=[]
                )
            server.wait_idle()
            console.print(f"{size:,} appointments, cache {cache}")
            wrk.run_groups(
                base_url=server.base_url, groups=groups, duration=2, data_file=data_file
            )  # warm-up, not measured
            result = wrk.run_groups(
                base_url=server.base_url, groups=groups, duration=duration, data_file=data_file
            )
        for name, group in result["groups"].items():
            percentiles = group["latency_ms"]["percentiles"]
            row[f"{name}_{cache}_p50"] = percentiles["50"]
            row[f"{name}_{cache}_p99"] = percentiles["99"]
            row[f"{name}_{cache}_rps"] = group["rps"]
    return row


def run(
    *,
    out: Path,
    workers: int,
    reuse: bool,
    quick: bool,
    duration: float | None,
    connections: int,
    settings: Settings,
    console: Console,
    command: str,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sizes = QUICK_SIZES if quick else SIZES
    seconds = duration or (3.0 if quick else 5.0)
    rows = [
        _size_run(
            size,
            out=out,
            workers=workers,
            reuse=reuse,
            duration=seconds,
            connections=connections,
            settings=settings,
            console=console,
        )
        for size in sizes
    ]
    growth = {}
    for key in ("dashboard_off_p50", "slots_off_p50", "dashboard_on_p50", "slots_on_p50"):
        first, last = rows[0].get(key), rows[-1].get(key)
        growth[key] = last / first if first and last else None
    result = {
        "command": command,
        "rows": rows,
        "growth_largest_over_smallest": growth,
        "machine": report.machine(),
        "seconds_per_run": seconds,
        "connections": connections,
        "workers": workers,
    }
    (out / "scale.json").write_text(json.dumps(result, indent=2))
    (out / "scale.md").write_text(markdown(result))
    console.print((out / "scale.md").read_text(), markup=False, highlight=False, soft_wrap=True)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# careslot bench --scale",
        "",
        f"`{result['command']}`: {result['seconds_per_run']:.0f} s per run, dashboard and "
        f"slots groups side by side ({result['connections']} connections in all), "
        f"{result['workers']} worker(s). Goal: p50 flat within 1.2{TIMES} from the smallest "
        "to the largest.",
        "",
        "| Appointments | seed s (per 1M rows) | dashboard p50 off / on | slots p50 off / on |",
        "| --- | --- | --- | --- |",
    ]
    for row in result["rows"]:
        seed = (
            "reused, not timed"
            if row.get("seed_seconds") is None
            else (f"{row['seed_seconds']:.1f} ({row['seed_seconds_per_million']:.1f})")
        )
        if row["reused"] and row.get("seed_seconds") is not None:
            seed += ", from the earlier seeding"
        lines.append(
            f"| {row['appointments']:,} | {seed} | {report.ms(row.get('dashboard_off_p50'))} / "
            f"{report.ms(row.get('dashboard_on_p50'))} | {report.ms(row.get('slots_off_p50'))} "
            f"/ {report.ms(row.get('slots_on_p50'))} |"
        )
    g = result["growth_largest_over_smallest"]
    lines += [
        "",
        f"Growth, largest ÷ smallest: dashboard {report.times(g['dashboard_off_p50'])} off, "
        f"{report.times(g['dashboard_on_p50'])} on; slots {report.times(g['slots_off_p50'])} "
        f"off, {report.times(g['slots_on_p50'])} on.",
        "",
        "The machine is shared with other work, so these figures are noisy.",
        "",
    ]
    return "\n".join(lines)
