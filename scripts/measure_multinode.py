"""One node with 2 workers against 2 nodes with 1 worker each behind HAProxy, and the
failover time of the leader roles: the figures in docs/deploy.md.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python scripts/measure_multinode.py --appointments 10000 --duration 10 --rounds 2

Needs wrk and haproxy (Debian packages). Uses (or seeds) the bench's database for that size
(`careslot bench --reuse-db` shares it; --database names another) and, with REDIS_URL, the
bench's Redis database 15.

  mixed:    the bench's mixed workload (workload.lua: Zipf-skewed dashboards, slots, lists,
            book/reschedule/cancel, staff schedules and the stream), closed loop at
            --connections, for --duration seconds, cache on, against
              1x2: `careslot serve --workers 2`, wrk straight to it;
              2x1: two `careslot serve --workers 1` behind `haproxy -f deploy/haproxy.cfg`;
              2x1-pgbouncer (--pgbouncer): the same, requests through PgBouncer
                (deploy/pgbouncer.ini, transaction mode, statement cache 0), listeners and
                leaders direct;
            alternated for --rounds rounds; each run starts fresh servers and cancels the
            bookings of the run before. Requests/s and p99 (per route group, and the
            request-weighted p99 of the read groups, as `careslot bench` reports them), and
            the server connections each topology holds on PostgreSQL at the end of the run.
  failover: two nodes with default settings; --failovers times, SIGKILL the node holding
            the leader roles and time until the other reports holding each role (its
            /metrics careslot_leader gauge, polled every 20 ms), then restart the killed one.
"""

# ruff: noqa: S603 (our own commands and Debian's binaries)

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import string
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from rich.console import Console

from careslot.bench import database, population, summary, wrk
from careslot.bench.runner import _postgres_cpu
from careslot.bench.server import (
    CareslotServer,
    bench_redis_url,
    clear_bench_cache,
    free_port,
)
from careslot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
ROLES = ("mv_refresher", "outbox_sender")
console = Console()


@contextmanager
def haproxy(nodes: list[str], log: Path) -> Iterator[str]:
    """deploy/haproxy.cfg in front of `nodes` (base URLs); its URL once every node answers."""
    exe = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if exe is None:
        raise SystemExit("haproxy is not installed (apt-get install haproxy)")
    port = free_port()
    env = {**os.environ, "CARESLOT_LB_BIND": f"127.0.0.1:{port}"}
    for i, node in enumerate(nodes, start=1):
        env[f"CARESLOT_NODE{i}"] = node.removeprefix("http://")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [exe, "-W", "-db", "-f", str(HAPROXY_CFG)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if all(httpx.get(f"{url}/readyz").status_code == 200 for _ in range(4)):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"haproxy did not come up; see {log}")
            time.sleep(0.2)
        time.sleep(2.5)  # every server's checks passed (rise 2, inter 1 s)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def pgbouncer(primary_url: str, out: Path) -> Iterator[str]:
    """deploy/pgbouncer.ini (transaction mode, trust) in front of `primary_url`'s server;
    the URL of the same database through it."""
    exe = shutil.which("pgbouncer", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if exe is None:
        raise SystemExit("pgbouncer is not installed (apt-get install pgbouncer)")
    primary = urlsplit(primary_url)
    user = primary.username or "postgres"
    run = Path(tempfile.mkdtemp(prefix="careslot-pgbouncer-"))
    run_as = ["-u", "postgres"] if os.geteuid() == 0 else []  # it refuses to run as root
    if run_as:
        shutil.chown(run, "postgres", "postgres")
    (run / "users.txt").write_text(f'"{user}" ""\n')
    port = free_port()
    (run / "pgbouncer.ini").write_text(
        string.Template((ROOT / "deploy" / "pgbouncer.ini").read_text()).substitute(
            PRIMARY_HOST=primary.hostname,
            PRIMARY_PORT=primary.port or 5432,
            LISTEN_ADDR="127.0.0.1",
            LISTEN_PORT=port,
            AUTH_TYPE="trust",
            AUTH_FILE=run / "users.txt",
            RUN_DIR=run,
            STATS_USERS=user,
        )
    )
    with (out / "pgbouncer.out").open("ab") as log:
        proc = subprocess.Popen(
            [exe, str(run / "pgbouncer.ini"), *run_as], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited; see {run}/pgbouncer.log")
        yield urlunsplit(primary._replace(netloc=f"{user}@127.0.0.1:{port}"))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(run, ignore_errors=True)


async def _connections(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "select application_name, count(*) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid() group by 1"
        )
        return {r["application_name"]: r["count"] for r in rows}
    finally:
        await conn.close()


def _summary(result: dict[str, Any], connections: dict[str, int]) -> dict[str, Any]:
    groups = result["groups"]
    non_2xx: dict[str, float] = {}
    for name, g in groups.items():
        for k, v in g.get("counts", {}).items():
            if k.startswith("status_") and not k.startswith(("status_2", "status_409")):
                key = f"{name}:{k.removeprefix('status_')}"
                non_2xx[key] = non_2xx.get(key, 0) + v
    return {
        "rps": round(result["rps"], 1),
        "read_p99_ms": round(summary.weighted_read_latency(groups, "99"), 2),
        "read_p50_ms": round(summary.weighted_read_latency(groups, "50"), 2),
        "dashboard_p99_ms": round(summary.pct(groups["dashboard"], "99"), 2),
        "writes_p99_ms": round(summary.pct(groups["writes"], "99"), 2),
        "errors_non_2xx_409": non_2xx,
        "socket_errors": sum(sum(g["errors"].values()) for g in groups.values()),
        "postgres_connections": connections,
    }


def mixed_run(
    topology: str,
    *,
    db: database.BenchDatabase,
    args: argparse.Namespace,
    state: dict[str, Any],
    out: Path,
) -> dict[str, Any]:
    redis_url = bench_redis_url(os.environ.get("REDIS_URL"))
    clear_bench_cache(redis_url)
    asyncio.run(database.cancel_leftovers(db.url, population.BOOKING_REASON))
    env = {"REDIS_URL": redis_url} if redis_url else {}
    with ExitStack() as stack:
        if topology == "1x2":
            one = stack.enter_context(
                CareslotServer(
                    database_url=db.url,
                    cache="on",
                    workers=2,
                    log_path=out / "serve-1x2.log",
                    extra_env=env,
                )
            )
            servers, url = [one], one.base_url
        else:
            node_url, node_env = db.url, dict(env)
            if topology == "2x1-pgbouncer":  # requests through PgBouncer, listeners direct
                node_url = stack.enter_context(pgbouncer(db.url, out))
                node_env |= {
                    "DATABASE_DIRECT_URL": db.url,
                    "CARESLOT_STATEMENT_CACHE_SIZE": "0",
                }
            servers = [
                stack.enter_context(
                    CareslotServer(
                        database_url=node_url,
                        cache="on",
                        workers=1,
                        log_path=out / f"serve-{topology}-{i}.log",
                        extra_env={**node_env, "CARESLOT_NODE_NAME": f"node{i}"},
                    )
                )
                for i in (1, 2)
            ]
            url = stack.enter_context(haproxy([s.base_url for s in servers], out / "haproxy.log"))
        if "data_file" not in state:
            pop = population.gather(
                base_url=url,
                database_url=db.url,
                patients=120,
                doctors_for_slots=40,
                zone=Settings().zone,
            )
            state["data_file"] = population.write_lua_data(
                out / "workload-data.lua",
                pop,
                run_id=uuid.uuid4().hex[:12],
                book_slots=pop.slots[:4000],
            )
        for server in servers:
            server.wait_idle()
        mix = wrk.split_connections(
            args.connections, {k: v for k, v in MIX.items() if k != "stream"}
        )
        mix.append(wrk.Group("stream", 1, delay_ms=500))
        wrk.run_groups(base_url=url, groups=mix, duration=2, data_file=state["data_file"])
        careslot_before = sum(s.cpu_seconds() for s in servers)
        postgres_before = _postgres_cpu(db.name)
        result = wrk.run_groups(
            base_url=url, groups=mix, duration=args.duration, data_file=state["data_file"]
        )
        careslot_cpu = sum(s.cpu_seconds() for s in servers) - careslot_before
        postgres_after = _postgres_cpu(db.name)
        postgres_cpu = sum(
            max(0.0, t - postgres_before.get(pid, 0.0)) for pid, t in postgres_after.items()
        )
        total = sum(g["requests"] for g in result["groups"].values())
        result["rps"] = total / max(g["duration_s"] for g in result["groups"].values())
        connections = asyncio.run(_connections(db.url))
    measured = _summary(result, connections)
    # CPU per 1000 requests: what sizes a primary (PostgreSQL) against the nodes (careslot).
    measured["careslot_cpu_s_per_1000"] = round(1000 * careslot_cpu / max(1, total), 3)
    measured["postgres_cpu_s_per_1000"] = round(1000 * postgres_cpu / max(1, total), 3)
    return measured


def _leads(url: str) -> set[str]:
    try:
        text = httpx.get(f"{url}/metrics", timeout=1).text
    except httpx.HTTPError:
        return set()
    return {role for role in ROLES if f'careslot_leader{{role="{role}"}} 1.0' in text.splitlines()}


def failovers(db: database.BenchDatabase, count: int, out: Path) -> dict[str, Any]:
    """Kill the leading node `count` times; seconds until the other holds each role."""
    taken: dict[str, list[float]] = {role: [] for role in ROLES}

    def start(i: int) -> CareslotServer:
        server = CareslotServer(
            database_url=db.url,
            cache="on",
            workers=1,
            log_path=out / f"failover-{i}.log",
            extra_env={"CARESLOT_NODE_NAME": f"node{i}"},
        )
        return server.__enter__()

    nodes = {1: start(1)}
    deadline = time.monotonic() + 30
    while _leads(nodes[1].base_url) != set(ROLES):
        if time.monotonic() > deadline:
            raise RuntimeError("node1 never led")
        time.sleep(0.1)
    nodes[2] = start(2)
    leader, other = 1, 2
    try:
        for attempt in range(count):
            process = nodes[leader].process
            assert process is not None
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            killed = time.monotonic()
            pending = set(ROLES)
            while pending and time.monotonic() - killed < 30:
                held = _leads(nodes[other].base_url)
                for role in pending & held:
                    taken[role].append(time.monotonic() - killed)
                pending -= held
                time.sleep(0.02)
            if pending:
                raise RuntimeError(f"failover {attempt}: {pending} never moved")
            console.print(
                f"failover {attempt + 1}: "
                + ", ".join(f"{r} {taken[r][-1] * 1000:.0f} ms" for r in ROLES)
            )
            nodes[leader] = start(leader)  # back as a follower
            leader, other = other, leader
    finally:
        for server in nodes.values():
            server.__exit__(None, None, None)
    return {
        role: {
            "median_ms": round(statistics.median(times) * 1000),
            "max_ms": round(max(times) * 1000),
            "all_ms": [round(t * 1000) for t in times],
        }
        for role, times in taken.items()
    }


MIX = {
    "dashboard": 30,
    "slots": 20,
    "departments": 5,
    "doctors": 7,
    "appointments": 15,
    "writes": 13,
    "schedule": 6,
    "staff_list": 3,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appointments", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument(
        "--pgbouncer", action="store_true", help="also 2x1 with requests through PgBouncer"
    )
    parser.add_argument("--out", type=Path, default=Path("multinode-out"))
    parser.add_argument(
        "--database", default=None, help="database name (default: the bench's for the size)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    db = database.prepare(
        settings,
        appointments=args.appointments,
        reuse=True,
        console=console,
        name=args.database,
    )
    state: dict[str, Any] = {}
    topologies = ["1x2", "2x1"] + (["2x1-pgbouncer"] if args.pgbouncer else [])
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in topologies}
    for round_ in range(args.rounds):
        for topology in topologies:
            result = mixed_run(topology, db=db, args=args, state=state, out=args.out)
            runs[topology].append(result)
            console.print(f"round {round_ + 1} {topology}: {json.dumps(result)}")
    report = {
        "appointments": db.appointments,
        "duration_s": args.duration,
        "connections": args.connections,
        "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "mixed": runs,
        "failover": failovers(db, args.failovers, args.out) if args.failovers else None,
    }
    (args.out / "multinode.json").write_text(json.dumps(report, indent=2))
    console.print_json(json.dumps(report))


if __name__ == "__main__":
    main()
