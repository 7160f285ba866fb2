"""One bench invocation: seed or reuse, then the same phases with the cache off and on.

The patients and staff log in once, on the bench database. Each mode then runs on its own
copy of that database, made just before it and dropped after its double-booking check, so
the second mode does not start from the first one's writes. Per mode (a fresh `careslot
serve` each): warm-up (not measured), the /healthz floor, the mixed workload at saturation
(one wrk per route group, side by side), the same mix paced to one fixed offered load in
both modes (half the cache-off saturation rate), dashboard alone at saturation, the
dashboard paced at half that rate, a booking burst (book, then reschedule or cancel),
bookings alone by 16 patients on distinct slots, and write-to-visible probes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from careslot.bench import database, population, scrape, visibility, wrk
from careslot.bench.server import CareslotServer, bench_redis_url, clear_bench_cache
from careslot.config import Settings

# Connection share per route group in the mixed workload (closed loop: each group's
# request rate follows from its connections and its latency; the report shows the result).
MIX = {
    "dashboard": 30,
    "slots": 20,
    "departments": 5,
    "doctors": 7,
    "appointments": 15,
    "writes": 13,
    "schedule": 6,
    "staff_list": 3,
    "stream": 1,
}
# One full stream of a million rows would take the whole run; above this size the staff
# list pages ("staff_list") stand in for it.
STREAM_MAX_APPOINTMENTS = 100_000
PACED_CONNECTIONS = 64  # the goal: p99 of cached reads at half saturation, 64 conns
BOOKING_CLIENTS = 16  # the booking phase: this many patients book at once, distinct slots
# The booking phase books thousands of slots with a few dozen patients: the bench server
# lifts the per-patient limit of upcoming appointments (the limit check itself still runs).
BENCH_ENV = {"CARESLOT_MAX_FUTURE_APPOINTMENTS": "1000000"}


@dataclass(slots=True)
class Options:
    appointments: int
    duration: float
    connections: int
    workers: int
    out: Path
    quick: bool
    reuse_db: bool
    database: str | None = None


def _phase_seconds(options: Options) -> float:
    return max(2.0, round(options.duration / 3))


def _cpu_busy() -> float:
    times = psutil.cpu_times()
    return float(
        times.user
        + times.system
        + getattr(times, "nice", 0.0)
        + getattr(times, "irq", 0.0)
        + getattr(times, "softirq", 0.0)
    )


def _postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving `database` (their process
    title names it; a server we cannot see into, e.g. on another host, gives nothing)."""
    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            title = " ".join(proc.info["cmdline"] or [])
            if proc.info["name"] in ("postgres", "postmaster") and f" {database} " in title:
                times = proc.cpu_times()
                found[proc.pid] = times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _measured(server: CareslotServer, database: str, run: Any) -> dict[str, Any]:
    """Run a wrk phase and note the CPU it took: generator, careslot, its PostgreSQL
    backends, and everything else on the machine (other work included)."""
    server_before, busy_before = server.cpu_seconds(), _cpu_busy()
    pg_before = _postgres_cpu(database)
    result: dict[str, Any] = run()
    server_cpu = server.cpu_seconds() - server_before
    pg_after = _postgres_cpu(database)
    postgres = sum(max(0.0, t - pg_before.get(pid, 0.0)) for pid, t in pg_after.items())
    busy = _cpu_busy() - busy_before
    wall = result["wall_s"]
    cores = psutil.cpu_count() or 1
    generator = result["generator_cpu_s"]
    result["cpu"] = {
        "generator_s": round(generator, 3),
        "careslot_s": round(server_cpu, 3),
        "postgres_s": round(postgres, 3),
        "machine_busy_s": round(busy, 3),
        "cores": cores,
        "wall_s": round(wall, 3),
        "generator_share_of_machine": round(generator / (wall * cores), 4),
        "careslot_share_of_machine": round(server_cpu / (wall * cores), 4),
        "postgres_share_of_machine": round(postgres / (wall * cores), 4),
        "generator_vs_careslot": round(generator / server_cpu, 4) if server_cpu else None,
        "other_share_of_machine": round(
            max(0.0, busy - generator - server_cpu - postgres) / (wall * cores), 4
        ),
    }
    total = sum(g["requests"] for g in result["groups"].values())
    duration = max(g["duration_s"] for g in result["groups"].values()) or 1.0
    result["requests"] = total
    result["rps"] = total / duration
    return result


def _mix(options: Options, appointments: int) -> list[wrk.Group]:
    weights = dict(MIX)
    if appointments > STREAM_MAX_APPOINTMENTS:
        weights.pop("stream")
    groups = wrk.split_connections(
        options.connections - 1, {k: v for k, v in weights.items() if k != "stream"}
    )
    if "stream" in weights:
        groups.append(wrk.Group("stream", 1, delay_ms=500))
    return groups


def _paced_seconds(options: Options, delay_ms: int) -> float:
    """Long enough for several paced requests per connection (the first waits too)."""
    phase = _phase_seconds(options)
    return max(phase, options.duration / 2, min(5 * delay_ms / 1000, 2 * options.duration))


def _paced(mix: list[wrk.Group], target_rps: float) -> list[wrk.Group]:
    """The mix with a pause per connection that makes `target_rps` in all (when answers are
    fast next to the pause; the report shows the rate reached)."""
    total = sum(g.connections for g in mix if g.name != "stream")
    delay = max(1, round(1000 * total / max(1.0, target_rps)))
    return [
        g if g.name == "stream" else wrk.Group(g.name, g.connections, delay_ms=delay) for g in mix
    ]


def _population(
    options: Options, db: database.BenchDatabase, settings: Settings, console: Console
) -> tuple[population.Population, Path]:
    """Log the bench's patients and staff in and plan what they book, on the bench database
    itself, before either mode's copy of it is made (the copies hold the sessions)."""
    console.print("logging in patients and staff, collecting free slots …")
    with CareslotServer(
        database_url=db.url,
        cache="off",
        workers=1,
        log_path=options.out / "serve-logins.log",
        extra_env=BENCH_ENV,
    ) as server:
        pop = population.gather(
            base_url=server.base_url,
            database_url=db.url,
            patients=40 if options.quick else 120,
            doctors_for_slots=12 if options.quick else 40,
            plans=("off", "on"),
            zone=settings.zone,
        )
    data_file = population.write_lua_data(
        options.out / "workload-data.lua",
        pop,
        run_id=uuid.uuid4().hex[:12],
        book_slots=pop.slots[:4000],
    )
    return pop, data_file


def run_mode(
    *,
    cache: str,
    options: Options,
    db: database.BenchDatabase,
    settings: Settings,
    pop: population.Population,
    data_file: Path,
    offered: dict[str, float],
    console: Console,
) -> dict[str, Any]:
    """One mode's phases. `offered` carries the paced mix's offered load from the first mode
    (half what cache off sustained) to the second."""
    phase = _phase_seconds(options)
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:  # wall time per phase, so slow set-up shows in the report
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    log_path = options.out / f"serve-{cache}.log"
    redis_url = bench_redis_url(settings.redis_url)
    clear_bench_cache(redis_url)
    with CareslotServer(
        database_url=db.url,
        cache=cache,
        workers=options.workers,
        log_path=log_path,
        extra_env={**BENCH_ENV, **({"REDIS_URL": redis_url} if redis_url else {})},
    ) as server:
        base = server.base_url
        lap("start")
        server.wait_idle()
        lap("wait_idle")
        mix = _mix(options, db.appointments)

        def groups_run(groups: list[wrk.Group], seconds: float) -> Any:
            return lambda: wrk.run_groups(
                base_url=base, groups=groups, duration=seconds, data_file=data_file
            )

        console.print(f"[bold]cache {cache}[/bold]: warm-up")
        wrk.run_groups(
            base_url=base, groups=mix, duration=1 if options.quick else 3, data_file=data_file
        )
        lap("warm_up")
        console.print(f"cache {cache}: /healthz floor {phase:.0f} s")
        floor = _measured(
            server, db.name, groups_run([wrk.Group("floor", options.connections)], phase)
        )
        lap("floor")

        console.print(f"cache {cache}: mixed workload {options.duration:.0f} s")
        metrics_before = scrape.snapshot(base, workers=options.workers)
        calls_before = asyncio.run(database.statement_calls(db.url))
        mixed = _measured(server, db.name, groups_run(mix, options.duration))
        calls_after = asyncio.run(database.statement_calls(db.url))
        metrics_after = scrape.snapshot(base, workers=options.workers)
        mixed["metrics"] = scrape.cache_delta(metrics_before, metrics_after)
        mixed["pg_stat_statements_calls"] = (
            calls_after - calls_before
            if calls_before is not None and calls_after is not None
            else None
        )
        lap("mixed")

        # Equal offered load for both modes: half of what cache off sustained. Below
        # saturation, latency is service time plus little queueing, so before and after
        # compare like with like (at saturation, closed-loop latency is mostly queueing).
        target = offered.setdefault("rps", mixed["rps"] / 2)
        console.print(f"cache {cache}: mixed workload paced at {target:.0f} req/s")
        paced_mix = _paced(mix, target)
        mixed_paced = _measured(
            server, db.name, groups_run(paced_mix, _paced_seconds(options, paced_mix[0].delay_ms))
        )
        mixed_paced["target_rps"] = target
        lap("mixed_paced")

        console.print(f"cache {cache}: dashboard alone, saturation then half rate")
        saturated = _measured(
            server, db.name, groups_run([wrk.Group("dashboard", options.connections)], phase)
        )
        paced = None
        if cache == "on":  # the goal is about cached reads
            sat_rps = saturated["rps"]
            delay = max(1, round(1000 * PACED_CONNECTIONS / max(1.0, sat_rps / 2)))
            paced = _measured(
                server,
                db.name,
                groups_run(
                    [wrk.Group("dashboard", PACED_CONNECTIONS, delay_ms=delay)],
                    _paced_seconds(options, delay),
                ),
            )
            paced["target_rps"] = sat_rps / 2
        lap("dashboard_alone")

        console.print(f"cache {cache}: booking burst")
        burst = _measured(
            server, db.name, groups_run([wrk.Group("writes", min(options.connections, 32))], phase)
        )
        lap("booking_burst")

        console.print(f"cache {cache}: booking, {BOOKING_CLIENTS} patients on distinct slots")
        booking = _measured(
            server,
            db.name,
            groups_run([wrk.Group("booking", BOOKING_CLIENTS, plan=cache)], phase),
        )
        lap("booking")

        console.print(f"cache {cache}: write-to-visible")
        visible = visibility.measure(
            base, pop, workers=options.workers, zone=settings.zone, tries=4 if options.quick else 12
        )
        lap("write_to_visible")
    lap("stop")
    return {
        "cache": cache,
        # The mode's own copy of the bench database, and its appointments when it started.
        "database": {"name": db.name, "appointments_at_start": db.appointments},
        "floor": floor,
        "mixed": mixed,
        "mixed_paced": mixed_paced,
        "dashboard_saturated": saturated,
        "dashboard_paced": paced,
        "booking_burst": burst,
        "booking": booking,
        "write_to_visible": visible,
        "server_log": log_path.name,
        "phase_seconds": timings,
    }


def run(options: Options, settings: Settings, console: Console) -> dict[str, Any]:
    options.out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    db = database.prepare(
        settings,
        appointments=options.appointments,
        reuse=options.reuse_db,
        console=console,
        name=options.database,
    )
    if db.reused:
        asyncio.run(database.cancel_leftovers(db.url, population.BOOKING_REASON))
    pop, data_file = _population(options, db, settings, console)
    offered: dict[str, float] = {}
    modes, doubles = {}, {}
    for key, cache in (("before", "off"), ("after", "on")):
        with database.copy_of(db, cache) as copy:
            modes[key] = run_mode(
                cache=cache,
                options=options,
                db=copy,
                settings=settings,
                pop=pop,
                data_file=data_file,
                offered=offered,
                console=console,
            )
            console.print(f"cache {cache}: checking for double bookings …")
            doubles[cache] = asyncio.run(database.double_bookings(copy.url))
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "total_seconds": round(time.perf_counter() - clock, 1),
        "options": {
            "appointments": options.appointments,
            "duration_s": options.duration,
            "connections": options.connections,
            "workers": options.workers,
            "server": settings.server,  # CARESLOT_SERVER, which the serve processes inherit
            "quick": options.quick,
            "reuse_db": options.reuse_db,
        },
        "database": {
            "name": db.name,
            "appointments": db.appointments,
            "reused": db.reused,
            "seed_seconds": db.seed_seconds,
            "source": pop.source,
            "postgres": asyncio.run(database.server_version(db.url)),
            "redis": bench_redis_url(settings.redis_url) is not None,
        },
        "workload": {
            "mix_connections": {g.name: g.connections for g in _mix(options, db.appointments)},
            "patients_logged_in": len(pop.patients),
            "staff": len(pop.staff),
            "free_slots": len(pop.slots),
            "notes": pop.notes,
        },
        "modes": modes,
        "double_bookings": {
            **{k: sum(d[k] for d in doubles.values()) for k in ("doctor", "patient", "total")},
            "by_mode": doubles,
        },
    }
