"""The HTTP server that runs careslot's ASGI app: uvicorn (httptools, uvloop) by default, or
granian (`CARESLOT_SERVER=granian`), kept to compare the two in our own bench (README: "The
write path (issue 14)": granian answered tiny cached reads faster and booked slower)."""

from __future__ import annotations

import enum
import socket
import sys
from typing import Any, Literal, TypedDict, TypeVar

APP = "careslot.app:create_app"
GRANIAN_KILL_TIMEOUT = 10  # seconds a granian worker has to stop on SIGTERM before it is killed


class Server(enum.StrEnum):
    uvicorn = "uvicorn"
    granian = "granian"


def run(server: Server, *, host: str, port: int, workers: int, log_level: str) -> None:
    if server is Server.granian:
        _granian(host, port, workers, log_level)
    else:
        _uvicorn(host, port, workers, log_level)


class _UvicornOptions(TypedDict):
    """What careslot sets of uvicorn's options, for uvicorn.run and uvicorn.Config alike."""

    factory: bool
    host: str
    port: int
    workers: int
    loop: Literal["uvloop"]
    http: Literal["httptools"]
    log_level: str
    access_log: bool
    proxy_headers: bool


def _uvicorn(host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    options = _UvicornOptions(
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=False,
        # The peer address is the TCP peer's: X-Forwarded-For is believed only from
        # CARESLOT_TRUSTED_PROXIES (accounts/limits.py), not from uvicorn's default 127.0.0.1.
        proxy_headers=False,
    )
    if workers < 2 or not _REUSE_PORT:
        uvicorn.run(APP, **options)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(APP, **options)
    try:
        listener = WorkerPort.claim(host, port)
    except OSError as exc:
        sys.exit(f"careslot serve: cannot listen on {host}:{port}: {exc}")
    try:
        Multiprocess(config, sockets=[listener]).run()
    finally:
        listener.close()


# Linux deals the connections to one port out over the sockets bound to it with SO_REUSEPORT.
_REUSE_PORT = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
_Socket = TypeVar("_Socket", bound=socket.socket)


def _bound(kind: type[_Socket], family: int, host: str, port: int) -> _Socket:
    """A TCP socket of `kind` bound to host:port with SO_REUSEPORT, not yet listening."""
    sock = kind(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class WorkerPort(socket.socket):
    """Each worker's own listening socket on the server's port, so the kernel deals new
    connections out among the workers (SO_REUSEPORT) instead of leaving them to whichever
    worker wakes first.

    With uvicorn's one shared socket, the worker that wakes first accepts every connection
    waiting (its loop accepts until none is left): 16 patients connecting at once under wrk
    landed 14 and 2, or 16 and 0, on two workers, and the busy one queued while the other
    idled. This object is the parent's hold on the port: bound, never listening, so it takes
    no connection. Sent to a worker (uvicorn pickles the sockets it hands its workers, and
    again for a worker it starts in place of a dead one), it arrives as a fresh socket bound
    to the same address, which the worker's server then listens on.

    The price, as with nginx's `reuseport`: a connection dealt to a worker that is stopped
    or stuck waits for that worker, where a shared socket would have let another take it."""

    @classmethod
    def claim(cls, host: str, port: int) -> WorkerPort:
        return _bound(cls, socket.AF_INET6 if ":" in host else socket.AF_INET, host, port)

    def __reduce__(self) -> tuple[Any, tuple[type[socket.socket], int, str, int]]:
        host, port = self.getsockname()[:2]
        return _bound, (socket.socket, int(self.family), host, port)


def _granian(host: str, port: int, workers: int, log_level: str) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    # Granian's ASGI scope names the TCP peer as the client (it rewrites nothing from proxy
    # headers unless wrapped for it), so accounts/limits.py decides alone, as with uvicorn.
    Granian(
        APP,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels(log_level),
        log_access=False,
        # Without it, granian waits for ever for a worker that does not stop on SIGTERM (a
        # worker was once seen to, in tests/test_cli.py, cause unknown): it is killed instead.
        workers_kill_timeout=GRANIAN_KILL_TIMEOUT,
    ).serve()
