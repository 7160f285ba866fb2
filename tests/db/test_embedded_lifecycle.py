"""The embedded PostgreSQL lives exactly as long as `careslot serve` (issue 13, items 2-3).

Each test runs `careslot serve` on a fresh CARESLOT_DATA_DIR with no DATABASE_URL, in a
process group of its own, and signals it the way systemd, Docker, Kubernetes or a crash do.
"""

# ruff: noqa: S603 (the tests run our own installed command)

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from careslot.db.embedded import postmaster_pid
from tests.conftest import free_port

CARESLOT = str(Path(sys.executable).parent / "careslot")
pytestmark = pytest.mark.slow


class Serve:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir.resolve() / "pg"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env |= {"CARESLOT_DATA_DIR": str(data_dir), "CARESLOT_CACHE_WARM": "false"}
        self.log = data_dir / "serve.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [CARESLOT, "serve", "--port", str(self.port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # its own process group, so the test can signal it
            )
        self.wait_until(self.ready, "careslot serve did not become ready")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"careslot serve exited early:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    @staticmethod
    def wait_until(condition: Callable[[], bool], message: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, message
            time.sleep(0.1)

    def postmaster(self) -> int:
        pid = postmaster_pid(self.pgdata)
        assert pid is not None, "the embedded PostgreSQL should be running"
        return pid

    def exited(self) -> int:
        return self.process.wait(timeout=60)

    def stopped(self, pid: int) -> None:
        """No PostgreSQL of this data dir runs any more (the watchdog may take a moment)."""

        def gone() -> bool:
            return not psutil.pid_exists(pid) and postmaster_pid(self.pgdata) is None

        self.wait_until(gone, f"the embedded PostgreSQL (pid {pid}) outlived careslot", 60)
        assert not _postgres_of(self.pgdata)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _postgres_of(pgdata: Path) -> list[int]:
    """Every postgres process serving pgdata (postmaster and backends)."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmdline = p.info["cmdline"] or []
        if p.info["name"] == "postgres" and str(pgdata) in cmdline:
            found.append(p.pid)
    return found


@pytest.fixture
def serve(own_tmp: Path) -> Iterator[Callable[[], Serve]]:
    started: list[Serve] = []

    def start() -> Serve:
        started.append(Serve(own_tmp / "data"))
        return started[-1]

    yield start
    for s in started:
        s.kill()
        pid = postmaster_pid(s.pgdata)
        if pid is not None:  # leave nothing running, even when the test failed
            os.kill(pid, signal.SIGQUIT)


def test_sigterm_to_careslot_stops_its_postgres(serve: Callable[[], Serve]) -> None:
    s = serve()
    pid = s.postmaster()
    s.process.send_signal(signal.SIGTERM)
    s.exited()
    s.stopped(pid)


def test_sigterm_to_its_process_group_stops_its_postgres(serve: Callable[[], Serve]) -> None:
    s = serve()
    pid = s.postmaster()
    os.killpg(s.process.pid, signal.SIGTERM)
    s.exited()
    s.stopped(pid)


def test_sigkill_to_careslot_stops_its_postgres(serve: Callable[[], Serve]) -> None:
    s = serve()
    pid = s.postmaster()
    s.process.send_signal(signal.SIGKILL)
    s.exited()
    s.stopped(pid)


def test_a_dead_postmaster_is_restarted_and_the_new_one_stopped_on_exit(
    serve: Callable[[], Serve],
) -> None:
    s = serve()
    first = s.postmaster()
    os.kill(first, signal.SIGKILL)  # a crash of the postmaster itself
    s.wait_until(lambda: postmaster_pid(s.pgdata) not in (None, first), "not restarted", 90)
    s.wait_until(s.ready, "careslot did not serve again after the restart")
    second = s.postmaster()
    assert "restarted" in s.log.read_text()
    s.process.send_signal(signal.SIGTERM)
    s.exited()
    s.stopped(second)


def test_a_leftover_postgres_is_adopted_not_duplicated(serve: Callable[[], Serve]) -> None:
    crashed = serve()
    leftover = crashed.postmaster()
    # A crash that took careslot and its watchdog down together leaves the server running.
    watchdogs = [
        p
        for p in psutil.process_iter(["cmdline"])
        if "careslot.db.watchdog" in (p.info["cmdline"] or [])
        and str(crashed.process.pid) in (p.info["cmdline"] or [])
    ]
    assert len(watchdogs) == 1
    for p in watchdogs:
        p.kill()
    crashed.kill()
    assert postmaster_pid(crashed.pgdata) == leftover

    s = serve()
    assert s.postmaster() == leftover  # adopted
    assert "adopted" in s.log.read_text()
    s.process.send_signal(signal.SIGTERM)
    s.exited()
    s.stopped(leftover)
