"""Two `careslot serve` nodes that share only PostgreSQL (and Redis where set), behind
Debian's HAProxy with the shipped deploy/haproxy.cfg, behave as one service (SPEC section
11): a write through the balancer is visible on every node before its 201, sign-out on one
node ends the session on the other, exactly one node refreshes the view and sends the mail,
and when that node is SIGKILLed the other takes both roles over within seconds, with every
message delivered exactly once (a real SMTP server counts the Message-IDs)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.helpers import PASSWORD
from tests.conftest import CloneDatabase
from tests.messages.conftest import MailSink
from tests.multinode.conftest import (
    Balancer,
    Node,
    Process,
    eventually,
    start_haproxy,
    start_node,
)

ROLES = ("mv_refresher", "outbox_sender")
pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    lb: Balancer
    first: Node  # started first: it holds both leader roles
    second: Node
    sink: MailSink
    database_url: str

    @property
    def nodes(self) -> list[Node]:
        return [self.first, self.second]


@pytest.fixture
def cluster(
    clone_database: CloneDatabase, sink: MailSink, processes: list[Process]
) -> Iterator[Cluster]:
    settings = {
        "smtp_url": sink.url,
        "mv_refresh_seconds": "1",
        "reminders": "",  # confirmations only: one mail per booking
    }
    redis = os.environ.get("REDIS_URL")
    with clone_database("mn") as url:
        first = start_node("node-a", url, **settings)
        processes.append(first.proc)
        eventually(lambda: all(first.leads(role) for role in ROLES))
        second = start_node("node-b", url, **settings)
        processes.append(second.proc)
        lb = start_haproxy([first, second])
        processes.append(lb.proc)
        assert redis is None or "REDIS_URL" in os.environ  # both nodes inherited it
        yield Cluster(lb, first, second, sink, url)


def _patient(url: str, email: str) -> str:
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Nod"})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token


def _free_day(url: str, at_least: int) -> tuple[int, str, list[str]]:
    """The demo doctor, a day, and that day's free starts (at least `at_least` of them)."""
    with httpx.Client(base_url=url, timeout=30) as c:
        doctor = next(d for d in c.get("/api/doctors").json() if d["name"] == "Dr. Amara Okafor")
        day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        for _ in range(10):
            slots = c.get(
                "/api/slots", params={"doctorId": doctor["id"], "date": day.isoformat()}
            ).json()["slots"]
            if len(slots) >= at_least:
                return doctor["id"], day.isoformat(), [s["start"] for s in slots]
            day += dt.timedelta(days=1)
    raise AssertionError("no day with enough free slots")


def _on_every_node(
    cluster: Cluster, path: str, token: str | None, **params: str
) -> list[dict[str, Any]]:
    """The same read on every node at once, each on a fresh connection."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def read(node: Node) -> httpx.Response:
        async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=30) as c:
            return await c.get(path, params=params)

    async def everywhere() -> list[httpx.Response]:
        return list(await asyncio.gather(*(read(n) for n in cluster.nodes)))

    answers = asyncio.run(everywhere())
    for node, answer in zip(cluster.nodes, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-careslot-node"] == node.name
    return [a.json() for a in answers]


def test_a_write_through_the_balancer_is_visible_on_every_node_before_its_201(
    cluster: Cluster,
) -> None:
    token = _patient(cluster.lb.url, "nodes@test.careslot")
    doctor, day, starts = _free_day(cluster.lb.url, at_least=4)
    for _ in range(2):  # both nodes now hold these answers in their caches
        stats = _on_every_node(cluster, "/api/dashboard/stats", token)
        free = _on_every_node(cluster, "/api/slots", None, doctorId=str(doctor), date=day)
        mine = _on_every_node(cluster, "/api/appointments", token)
    assert [s["data"]["upcomingCount"] for s in stats] == [0, 0]
    assert [m["items"] for m in mine] == [[], []]
    assert all(starts[0] in [s["start"] for s in f["slots"]] for f in free)

    answered_by = set()
    with httpx.Client(
        base_url=cluster.lb.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        for booked_so_far, start in enumerate(starts[:4], start=1):
            r = c.post("/api/appointments", json={"doctorId": doctor, "start": start})
            assert r.status_code == 201, r.text
            answered_by.add(r.headers["x-careslot-node"])
            # Right after the 201, straight to each node:
            stats = _on_every_node(cluster, "/api/dashboard/stats", token)
            assert [s["data"]["upcomingCount"] for s in stats] == [booked_so_far] * 2
            free = _on_every_node(cluster, "/api/slots", None, doctorId=str(doctor), date=day)
            for answer in free:
                assert start not in [s["start"] for s in answer["slots"]]
            mine = _on_every_node(cluster, "/api/appointments", token)
            for answer in mine:
                assert start in [a["start"] for a in answer["items"]]
    assert answered_by == {"node-a", "node-b"}  # the balancer used both


def test_sign_out_on_one_node_ends_the_session_on_every_node(cluster: Cluster) -> None:
    token = _patient(cluster.lb.url, "signout@test.careslot")
    for _ in range(2):  # the session is now cached on both nodes
        _on_every_node(cluster, "/api/users/profile", token)
    with httpx.Client(base_url=cluster.second.url, timeout=30) as c:
        r = c.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code in (200, 204), r.text
    for node in (cluster.first, cluster.second):
        r = httpx.get(f"{node.url}/api/users/profile", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (node.name, r.text)
    r = httpx.get(
        f"{cluster.lb.url}/api/users/profile", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401


def _book_through_balancer(cluster: Cluster, count: int, email: str) -> set[str]:
    token = _patient(cluster.lb.url, email)
    doctor, _, starts = _free_day(cluster.lb.url, at_least=count)
    nodes = set()
    with httpx.Client(
        base_url=cluster.lb.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        for start in starts[:count]:
            r = c.post("/api/appointments", json={"doctorId": doctor, "start": start})
            assert r.status_code == 201, r.text
            nodes.add(r.headers["x-careslot-node"])
    return nodes


def test_one_node_leads_and_another_takes_over_when_it_is_killed(cluster: Cluster) -> None:
    a, b = cluster.first, cluster.second
    sent = 'careslot_outbox_sent_total{channel="email"}'
    refreshed = 'careslot_mv_refreshes_total{outcome="ok"}'
    assert _book_through_balancer(cluster, 4, "before@test.careslot") == {a.name, b.name}
    eventually(lambda: len(cluster.sink.messages) == 4)
    eventually(lambda: a.counted(refreshed) >= 2)  # the view is refreshed every second
    # Exactly one node does each: the one started first, holding both locks.
    assert [a.leads(role) for role in ROLES] == [True, True]
    assert [b.leads(role) for role in ROLES] == [False, False]
    assert a.counted(sent) == 4
    assert b.counted(sent) == 0
    assert b.counted(refreshed) == 0

    a.proc.kill()  # SIGKILL: no shutdown code, its connections simply drop
    killed = time.monotonic()
    eventually(lambda: all(b.leads(role) for role in ROLES), timeout=10, every=0.05)
    took_over = time.monotonic() - killed
    assert took_over < 5, took_over
    eventually(lambda: b.counted(refreshed) >= 1, timeout=5)

    # The balancer sends everything to the survivor; its mail still goes out.
    assert _book_through_balancer(cluster, 4, "after@test.careslot") == {b.name}
    eventually(lambda: len(cluster.sink.messages) == 8)
    time.sleep(1.0)  # nothing more arrives: no duplicate trails in
    ids = [m["Message-ID"] for m in cluster.sink.messages]
    assert len(ids) == 8
    assert len(set(ids)) == 8
    assert b.counted(sent) == 4
