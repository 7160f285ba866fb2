"""careslot itself, started as `careslot serve` in a child process for each bench mode."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BENCH_REDIS_DB = 15


def bench_redis_url(url: str | None) -> str | None:
    """REDIS_URL's server, logical database 15: cache keys are not scoped by database, so a
    bench database rebuilt under the same name must not meet an earlier run's entries."""
    if not url:
        return None
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{BENCH_REDIS_DB}"))


def clear_bench_cache(url: str | None) -> None:
    """Drop careslot's keys (cs:*) from the bench's Redis database before a cache-on run."""
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter("cs:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


def _careslot_command() -> list[str]:
    exe = shutil.which("careslot")
    if exe:
        return [exe]
    return [sys.executable, "-c", "from careslot.cli import main; main()"]


class CareslotServer:
    """`careslot serve --workers W --port P` with CARESLOT_CACHE set; stopped on exit."""

    def __init__(
        self,
        *,
        database_url: str,
        cache: str,
        workers: int,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.cache = cache
        self.workers = workers
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CARESLOT_CACHE": cache,
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CareslotServer:
        command = [
            *_careslot_command(),
            "serve",
            "--workers",
            str(self.workers),
            "--port",
            str(self.port),
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - careslot itself, our own arguments
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers share our fate through the group
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"careslot serve exited early; see {self.log_path}")
            try:
                # Every worker must be up: a few fresh connections spread over them.
                oks = 0
                for _ in range(4 * self.workers):
                    answer = httpx.get(f"{self.base_url}/readyz", timeout=2.0)
                    oks += answer.status_code == 200
                if oks == 4 * self.workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"careslot serve not ready after {timeout:.0f} s; see {self.log_path}")

    def wait_idle(self, *, limit_s: float = 90.0, busy_share: float = 0.1) -> float:
        """Wait until careslot's own background work (cache warming at start, the first
        materialized-view refresh) has settled: under `busy_share` of a core for a second.
        Returns the seconds waited."""
        started = time.monotonic()
        last = self.cpu_seconds()
        while time.monotonic() - started < limit_s:
            time.sleep(1.0)
            now = self.cpu_seconds()
            if now - last < busy_share:
                break
            last = now
        return time.monotonic() - started

    def processes(self) -> list[psutil.Process]:
        """The serve process and its workers (uvicorn's multiprocess children)."""
        if self.process is None:
            return []
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        # uvicorn reaps its workers; any straggler in our own group goes with a signal to it.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
