"""HAProxy's /readyz check (deploy/haproxy.cfg) takes a node out while it cannot reach its
database and puts it back when it can: node B's requests go through a PgBouncer that the
test stops and starts again, node A's straight to PostgreSQL. While B is out, every request
through the balancer is answered by A, with 200."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import CloneDatabase
from tests.multinode.conftest import (
    Process,
    eventually,
    start_haproxy,
    start_node,
    start_pgbouncer,
)

pytestmark = pytest.mark.slow


def _answers(url: str, count: int) -> list[tuple[int, str]]:
    """`count` reads through the balancer, each on a new connection: (status, node)."""
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, timeout=10, limits=no_reuse) as c:
        answers = [c.get("/api/departments") for _ in range(count)]
    return [(a.status_code, a.headers.get("x-careslot-node", "")) for a in answers]


def test_a_node_without_its_database_is_taken_out_and_put_back(
    clone_database: CloneDatabase, processes: list[Process]
) -> None:
    with clone_database("hc") as url:
        name = urlsplit(url).path.lstrip("/")
        a = start_node("node-a", url)
        processes.append(a.proc)
        bouncer_procs: list[Process] = []
        bouncer = start_pgbouncer(url, bouncer_procs)
        port = urlsplit(bouncer).port
        processes.extend(bouncer_procs)
        b = start_node(
            "node-b",
            bouncer.rsplit("/", 1)[0] + f"/{name}",
            statement_cache_size="0",
            cache="off",  # every read asks the database
            **{"database_direct_url": url},
        )
        processes.append(b.proc)
        lb = start_haproxy([a, b])
        processes.append(lb.proc)
        assert {node for _, node in _answers(lb.url, 8)} == {"node-a", "node-b"}

        bouncer_procs[0].stop()  # node B's database is gone; node A's is not
        eventually(lambda: httpx.get(f"{b.url}/readyz").status_code == 503, timeout=10)
        out = time.monotonic()
        # Two failed checks a second apart, then B gets nothing more.
        eventually(lambda: set(_answers(lb.url, 6)) == {(200, "node-a")}, timeout=10)
        taken_out = time.monotonic() - out
        assert set(_answers(lb.url, 20)) == {(200, "node-a")}
        assert taken_out < 5

        restarted: list[Process] = []
        start_pgbouncer(url, restarted, port=port)
        processes.extend(restarted)
        eventually(lambda: httpx.get(f"{b.url}/readyz").status_code == 200, timeout=15)
        eventually(
            lambda: {node for _, node in _answers(lb.url, 8)} == {"node-a", "node-b"},
            timeout=10,
        )
        assert {status for status, _ in _answers(lb.url, 20)} == {200}
