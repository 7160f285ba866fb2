"""How `careslot serve` listens: each worker on a socket of its own (serving.py: WorkerPort)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import time
from collections import Counter

from careslot.serving import WorkerPort
from tests.cache.test_workers import _read_everywhere, serve_workers, worker_of

CONNECTIONS = 64


def test_a_worker_receives_its_own_socket_on_the_parent_s_port() -> None:
    parent = WorkerPort.claim("127.0.0.1", 0)
    try:
        # What uvicorn does to hand it to a worker (our own bytes, so S301 does not apply).
        worker = pickle.loads(pickle.dumps(parent))  # noqa: S301
        try:
            assert type(worker) is socket.socket
            assert worker.fileno() != parent.fileno()
            assert worker.getsockname() == parent.getsockname()
            assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        finally:
            worker.close()
    finally:
        parent.close()


def test_the_parent_s_hold_on_the_port_takes_no_connection() -> None:
    parent = WorkerPort.claim("127.0.0.1", 0)
    try:
        with socket.socket() as client, contextlib.suppress(ConnectionRefusedError):
            client.connect(parent.getsockname())
            raise AssertionError("the parent's socket accepted a connection")
    finally:
        parent.close()


def _worker_of_each(connections: list[socket.socket]) -> Counter[int]:
    workers: Counter[int] = Counter()
    for connection in connections:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: careslot\r\n\r\n")
    for connection in connections:
        with connection.makefile("rb") as answer:
            head = b"".join(iter(answer.readline, b"\r\n")).decode("latin-1").lower()
        workers[
            next(
                int(line.split(":", 1)[1])
                for line in head.split("\r\n")
                if line.startswith("x-careslot-worker:")
            )
        ] += 1
    return workers


def test_connections_are_dealt_out_to_every_worker_not_to_the_first_awake(
    database_url: str,
) -> None:
    """With one socket shared by the workers, the worker that woke first accepted every
    connection waiting (16 patients connecting at once under wrk: 14 and 2, or 16 and 0, and
    the busy worker queued while the other idled). Here the workers are stopped while 64
    connections arrive, and one is let go first: with a shared socket it takes all 64; with a
    socket each, the kernel has already dealt them out (fewer than 16 of 64 to one worker
    happens about once in 30,000 starts)."""
    with contextlib.contextmanager(serve_workers)(database_url, None) as url:
        first, second = sorted(
            {worker_of(a) for a in asyncio.run(_read_everywhere(url, "/healthz", None, {}))}
        )
        host, port = url.removeprefix("http://").split(":")
        connections: list[socket.socket] = []
        for pid in (first, second):
            os.kill(pid, signal.SIGSTOP)
        try:
            # The kernel completes each handshake itself and queues it for an accept.
            connections = [socket.create_connection((host, int(port))) for _ in range(CONNECTIONS)]
            os.kill(first, signal.SIGCONT)
            time.sleep(0.3)  # time enough to accept everything it can
        finally:
            for pid in (first, second):
                os.kill(pid, signal.SIGCONT)
        try:
            workers = _worker_of_each(connections)
        finally:
            for connection in connections:
                connection.close()
    assert sum(workers.values()) == CONNECTIONS
    assert set(workers) == {first, second}, workers
    assert min(workers.values()) >= CONNECTIONS // 4, workers
