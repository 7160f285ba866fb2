"""report.json and report.md: the guide's table with measured figures beside its targets."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil

from careslot.bench import wrk
from careslot.bench.summary import TIMES

LATENCY_NOTE = (
    "Latency is measured by wrk 4.1 from the request's send to the last byte of its answer. "
    "wrk keeps one latency histogram per process, so the mixed workload runs one wrk "
    "process (1 thread) per route group, all at the same time against the same server. "
    "At saturation (closed loop: each connection sends its next request as soon as the "
    "previous answer is in) latency is mostly queueing and is not corrected for "
    "coordinated omission. The paced runs add a random pause per connection before each "
    "request (Lua delay(), exponential, so arrivals are close to a Poisson stream) sized so "
    "the whole mix offers one fixed rate, the same in both modes (half what cache off "
    "sustained at saturation): those latencies are service time plus modest queueing and "
    "are the ones the guide's table uses. Paced is still a closed loop with pauses, not "
    "wrk2's constant-rate corrected histogram (wrk2 is not packaged for Debian), so a "
    "stall delays the following requests instead of being charged to them. The writes "
    "group mixes book, reschedule and cancel in one histogram (follow-ups need the "
    "booking's answer; wrk's Lua cannot time single requests)."
)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        command = [wrk.wrk_path() or "wrk", "--version"]
        version = subprocess.run(  # noqa: S603 - our own command line
            command,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        wrk_version = (version.stdout or version.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        wrk_version = "unknown"
    return {
        "cores_logical": psutil.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_model": model,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "wrk": wrk_version,
    }


def write(out: Path, result: dict[str, Any], summary: dict[str, Any], command: str) -> None:
    result = {
        **result,
        "command": command,
        "machine": machine(),
        "summary": summary,
        "latency_method": LATENCY_NOTE,
    }
    (out / "report.json").write_text(
        json.dumps(_finite(result), indent=2, default=_jsonable, allow_nan=False)
    )
    (out / "report.md").write_text(markdown(result, summary))


def _jsonable(value: Any) -> Any:
    return str(value)


def _finite(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be computed is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def pc(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def times(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f}{TIMES}"


def num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(result: dict[str, Any], s: dict[str, Any]) -> str:
    b, a, r = s["before"], s["after"], s["ratios"]
    db, opts, m = result["database"], result["options"], result["machine"]
    qb, qa = b["queries_per_request"], a["queries_per_request"]
    pb, pa = b["paced_mixed"], a["paced_mixed"]
    lines = [
        "# careslot bench",
        "",
        f"`{result['command']}` — {result['started_at']}, {result['total_seconds']} s in all.",
        "",
        f"Database `{db['name']}`: {db['appointments']:,} appointments ({db['source']}; "
        + ("reused" if db["reused"] else "seeded now")
        + (f", seeded in {db['seed_seconds']:.1f} s" if db.get("seed_seconds") else "")
        + f"), PostgreSQL {db['postgres']}, Redis {'on' if db['redis'] else 'off (layer 1 only)'}."
        f" careslot with {opts['workers']} worker(s) under {opts.get('server', 'uvicorn')}; "
        f"{opts['connections']} connections; "
        f"mixed run {opts['duration_s']:.0f} s per mode.",
        "",
        "## The guide's Expected Results, measured",
        "",
        "| Metric | Guide: before | Guide: after phase 3 | careslot, cache off | "
        "careslot, cache on | off ÷ on |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| Dashboard load, p50 / p99 (mixed, equal offered load {pb['target_rps']:.0f}/s) "
        f"| 2-3 s | < 100 ms | {_lat(pb['dashboard'])} | {_lat(pa['dashboard'])} | "
        f"{times(r['dashboard_p50_before_over_after_paced'])} |",
        f"| API response, reads, p50 / p99 (same run, request-weighted) | 800 ms-1.5 s | "
        f"< 20 ms | {ms(pb['api_read_p50'])} / {ms(pb['api_read_p99'])} | "
        f"{ms(pa['api_read_p50'])} / {ms(pa['api_read_p99'])} | "
        f"{times(r['api_read_p50_before_over_after_paced'])} |",
        f"| Dashboard load at saturation, p50 / p99 ({opts['connections']} connections) | | | "
        f"{_lat(b['dashboard'])} | {_lat(a['dashboard'])} | "
        f"{times(r['dashboard_p50_before_over_after'])} |",
        f"| API response at saturation, reads, p50 / p99 | | | "
        f"{ms(b['api_read_p50'])} / {ms(b['api_read_p99'])} | "
        f"{ms(a['api_read_p50'])} / {ms(a['api_read_p99'])} | "
        f"{times(r['api_read_p50_before_over_after'])} |",
        f"| Cache hit rate (reads) | 60-80% | 98%+ | {_hit_cell(b)} | {_hit_cell(a)} | |",
        f"| Database queries per request | 6+ | < 1 | {_queries_cell(qb)} | "
        f"{_queries_cell(qa)} | |",
        "| Time to interactive | 3+ s | < 200 ms | not measured here (needs a browser: "
        "page-load beacons on /metrics) | | |",
        "",
        "Dashboard load is the dashboard's one data call, `GET /api/dashboard/stats`, as a "
        "client sees it (not a browser page load). Cache hit rate counts read answers by "
        "the outcome in their `Server-Timing`; by strategy (cache on): " + _by_strategy(a) + ".",
        "",
        "## Goals (issue 4)",
        "",
        "| Goal | Measured (cache on) | Met |",
        "| --- | --- | --- |",
    ]
    for goal in s["goals"]:
        value = goal["measured"]
        shown = "n/a" if value is None else f"{value:.2f}{goal['unit']}"
        met = {True: "yes", False: "**no**", None: "n/a"}[goal["met"]]
        lines.append(f"| {goal['goal']} | {shown} | {met} |")
    lines += [
        "",
        "## Throughput and the rest",
        "",
        "| | cache off | cache on | on ÷ off |",
        "| --- | --- | --- | --- |",
        f"| Mixed workload at saturation, requests/s | {b['rps']:.0f} | {a['rps']:.0f} | "
        f"{times(r['rps_after_over_before'])} |",
        f"| Mixed workload paced, requests/s reached of {pb['target_rps']:.0f} | "
        f"{pb['rps']:.0f} | {pa['rps']:.0f} | |",
        f"| careslot CPU per request, mixed (ms) | {num(b['cpu_ms_per_request'])} | "
        f"{num(a['cpu_ms_per_request'])} | "
        f"{times(_inverse(r['cpu_per_request_before_over_after']))} |",
        f"| careslot CPU per request, dashboard alone (ms) | "
        f"{num(b['dashboard_alone_cpu_ms_per_request'])} | "
        f"{num(a['dashboard_alone_cpu_ms_per_request'])} | "
        f"{times(_inverse(r['dashboard_cpu_per_request_before_over_after']))} |",
        f"| /healthz floor, requests/s (p50) | {b['floor']['rps']:.0f} "
        f"({ms(b['floor']['p50'])}) | {a['floor']['rps']:.0f} ({ms(a['floor']['p50'])}) | |",
        f"| Dashboard alone at saturation, requests/s (p50) | {b['dashboard_alone']['rps']:.0f} "
        f"({ms(b['dashboard_alone']['p50'])}) | {a['dashboard_alone']['rps']:.0f} "
        f"({ms(a['dashboard_alone']['p50'])}) | |",
        f"| Dashboard ÷ floor, p50 | {times(b['dashboard_vs_floor_p50'])} | "
        f"{times(a['dashboard_vs_floor_p50'])} | |",
        f"| Dashboard paced at half saturation, 64 conns: rate, p50 / p99 | "
        f"{_paced(b)} | {_paced(a)} | |",
        f"| Bookings/s in the mixed run | {_book(b['bookings_mixed'])} | "
        f"{_book(a['bookings_mixed'])} | |",
        f"| Bookings/s, booking burst | {_book(b['bookings_burst'])} | "
        f"{_book(a['bookings_burst'])} | |",
        f"| Bookings alone, 16 patients on distinct slots: per s (p50 / p99; CPU per "
        f"booking, careslot + its PostgreSQL backends) | "
        f"{_book16(b['bookings_16'])} | {_book16(a['bookings_16'])} | |",
        f"| Double bookings after each run, on its own copy of the database (check query) | "
        f"{_doubles(result, 'off')} | {_doubles(result, 'on')} | |",
        f"| Write-to-visible (all workers, slot list and dashboard), p50 / max | {_vis(b)} | "
        f"{_vis(a)} | |",
        f"| Stale reads after the 201 / reads; tries whose first round was all fresh | "
        f"{_stale(b)} | {_stale(a)} | |",
        f"| DB queries per request (pg_stat_statements) | {num(qb['pg_stat_statements'])} | "
        f"{num(qa['pg_stat_statements'])} | |",
        f"| Hit rate from /metrics (all workers, per layer) | {_metrics_cell(b)} | "
        f"{_metrics_cell(a)} | |",
        f"| CPU, mixed run: load generator / careslot / its PostgreSQL backends / everything "
        f"else (share of {m['cores_logical']} cores) | {_cpu(b)} | {_cpu(a)} | |",
        "",
    ]
    lines += _route_table(
        "Per route, mixed workload at saturation",
        b["routes"],
        a["routes"],
        r["p50_before_over_after_by_route"],
    )
    lines += _route_table(
        f"Per route, mixed workload paced to {pb['target_rps']:.0f} req/s in both modes",
        b["routes_paced"],
        a["routes_paced"],
        r["p50_before_over_after_by_route_paced"],
    )
    lines += [
        "",
        "## How it was measured",
        "",
        result["latency_method"],
        "",
        "Hit rate and queries per request come from the `Server-Timing` header of every "
        'answer (`cache;desc="l1 hit …"`, `db;desc="N queries"`), counted in wrk\'s Lua '
        "response() hook, so they cover every worker; /metrics (scraped before and after, "
        "each worker's registry summed) and pg_stat_statements (calls in this database "
        "over the run, background work included) are shown as cross-checks where present. "
        "Write-to-visible: book through one connection, then read slot list and dashboard "
        "in rounds of workers+1 simultaneous new connections (`Connection: close`, so the "
        "kernel spreads them over the workers) until a whole round shows the booking; a "
        "round of the same reads just before the booking had let every worker cache the old "
        "answers. Double bookings: live appointments per doctor and per patient in start "
        "order, any starting before the latest end before it (the same answer as a "
        "self-join on overlapping ranges, in seconds at 1M rows), after each run.",
        "",
        "The patients and staff log in once, on the bench database; each mode then runs on "
        "its own copy of it (CREATE DATABASE … TEMPLATE), made just before the mode and "
        "dropped after its double-booking check. Both modes thus start from the same rows, "
        "statistics and free slots: run one after the other on one database, the second "
        "ran on the first one's writes and their dead tuples, and in the burst it booked up "
        "to 30% fewer times a second than the first, whichever mode that was.",
        "",
        "The machine is shared (other work ran at the same time: see the CPU row), so "
        "figures are noisy; compare the columns of one run rather than runs.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']} — {m['cores_logical']} logical cores "
        f"({m['cores_physical']} physical)",
        f"- RAM: {m['ram_gib']} GiB; {m['os']}; load average at end {m['load_average_at_end']}",
        f"- Python {m['python']}; PostgreSQL {db['postgres']}; {m['wrk']}",
        "",
    ]
    return "\n".join(lines)


def _route_table(
    title: str, before: dict[str, Any], after: dict[str, Any], speedup: dict[str, float]
) -> list[str]:
    lines = [
        "",
        f"## {title}",
        "",
        "| Route group | conns | off: req/s | off: p50 / p95 / p99 | on: req/s | "
        "on: p50 / p95 / p99 | p50 off ÷ on |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, on in after.items():
        off = before.get(name)
        if off is not None:
            lines.append(
                f"| {on['route']} | {on['connections']} | {off['rps']:.1f} | {_p(off)} | "
                f"{on['rps']:.1f} | {_p(on)} | {times(speedup.get(name))} |"
            )
    return lines


def _inverse(value: float | None) -> float | None:
    return 1 / value if value else None


def _lat(route: dict[str, Any] | None) -> str:
    return "n/a" if route is None else f"{ms(route['p50'])} / {ms(route['p99'])}"


def _p(route: dict[str, Any]) -> str:
    return f"{ms(route['p50'])} / {ms(route['p95'])} / {ms(route['p99'])}"


def _doubles(result: dict[str, Any], cache: str) -> str:
    return str(result["double_bookings"]["by_mode"][cache]["total"])


def _hit_cell(mode: dict[str, Any]) -> str:
    cache = mode["cache"]
    if cache["hit_rate"] is None:
        return "0% (no cache)" if cache["cache_off_answers"] else "n/a"
    return f"{pc(cache['hit_rate'])} (L1 {pc(cache['l1_rate'])}, L2 {pc(cache['l2_rate'])})"


def _by_strategy(mode: dict[str, Any]) -> str:
    strategies = mode["cache"]["by_strategy"]
    if not strategies:
        return "n/a"
    return ", ".join(
        f"{name} {pc(v['hit_rate'])} of {int(v.get('hit', 0) + v.get('miss', 0))}"
        for name, v in sorted(strategies.items())
    )


def _queries_cell(q: dict[str, Any]) -> str:
    return num(q["server_timing"])


def _metrics_cell(mode: dict[str, Any]) -> str:
    metrics = mode.get("cache_metrics") or {}
    if not metrics.get("available") or metrics.get("hit_rate") is None:
        return "n/a"
    if not metrics.get("complete"):
        return "n/a (a scrape did not reach every worker)"
    layers = ", ".join(f"{k} {pc(v)}" for k, v in sorted(metrics["hit_rate_by_layer"].items()))
    return f"{pc(metrics['hit_rate'])} ({layers})"


def _paced(mode: dict[str, Any]) -> str:
    p = mode["paced"]
    if p is None:
        return "not run (the goal is about cached reads)"
    return f"{p['rps']:.0f}/s of {p['target_rps']:.0f}: {ms(p['p50'])} / {ms(p['p99'])}"


def _book(b: dict[str, Any]) -> str:
    if not b:
        return "n/a"
    conflicts = sum(b["conflicts_409"].values())
    errors = int(b["server_errors_5xx"])
    return f"{b['booked_per_s']:.0f} ({int(conflicts)} {TIMES} 409, {errors} {TIMES} 5xx)"


def _book16(b: dict[str, Any]) -> str:
    if not b:
        return "n/a"
    cpu = ""
    if b.get("careslot_cpu_ms") is not None:
        cpu = f"; CPU {num(b['careslot_cpu_ms'])} + PG {num(b['postgres_cpu_ms'])} ms each"
    return f"{_book(b)} ({ms(b['p50'])} / {ms(b['p99'])}{cpu})"


def _vis(mode: dict[str, Any]) -> str:
    v = mode["write_to_visible"]
    return f"{ms(v['p50_ms'])} / {ms(v['max_ms'])}"


def _stale(mode: dict[str, Any]) -> str:
    v = mode["write_to_visible"]
    return (
        f"{v['stale_reads_after_201']} / {v['reads_after_201']}; "
        f"{v['first_round_all_fresh']} of {v['tries']}"
    )


def _cpu(mode: dict[str, Any]) -> str:
    c = mode["cpu"]
    return (
        f"{pc(c['generator_share_of_machine'])} / {pc(c['careslot_share_of_machine'])} / "
        f"{pc(c.get('postgres_share_of_machine'))} / {pc(c['other_share_of_machine'])}"
    )
