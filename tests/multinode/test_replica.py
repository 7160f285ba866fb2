"""DATABASE_REPLICA_URL with a real streaming replica made here: a primary initdb'd in a
temporary directory and started on a free port, a replica made from it with
`pg_basebackup -R` (Debian's PostgreSQL binaries, else the embedded package's). The NDJSON
stream and the hospital figures come from the replica while it keeps up; with replay
paused (pg_wal_replay_pause) they keep coming from it until the lag passes
CARESLOT_REPLICA_MAX_LAG_SECONDS (the server's clock is moved, not waited for), then from
the primary; stopping the replica falls back too. A booking and the patient's own list never
touch the replica."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from careslot.config import Settings
from careslot.seeding.demo import PASSWORD as DEMO_PASSWORD
from tests.api.helpers import PASSWORD
from tests.conftest import LiveServer, free_port, migrate_and_seed_demo, serving
from tests.multinode.conftest import as_server_user, eventually, postgres_bin, server_dir

pytestmark = pytest.mark.slow


@dataclass
class Server:
    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        command = [str(postgres_bin() / "pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(as_server_user(command), check=True, capture_output=True)  # noqa: S603

    def start(self) -> None:
        log = self.data.parent / f"{self.data.name}.log"
        self.ctl("-l", str(log), "-o", f"-p {self.port}", "-w", "-t", "60", "start")

    def stop(self) -> None:
        self.ctl("-m", "immediate", "-w", "stop")


def _run(*command: str) -> None:
    subprocess.run(as_server_user(list(command)), check=True, capture_output=True)  # noqa: S603


@pytest.fixture
def primary_and_replica() -> Iterator[tuple[Server, Server]]:
    bin_dir = postgres_bin()
    home = server_dir("replication")
    primary = Server(home / "primary", free_port())
    replica = Server(home / "replica", free_port())
    started: list[Server] = []
    try:
        _run(str(bin_dir / "initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust")
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{home}'\n"
                "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 32MB\n"
            )
        primary.start()
        started.append(primary)
        asyncio.run(_execute(primary.url(), "create database careslot"))
        migrate_and_seed_demo(primary.url("careslot"))
        _run(
            str(bin_dir / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(replica.data), "-R", "-X", "stream", "-c", "fast"),
        )
        replica.start()
        started.append(replica)
        yield primary, replica
    finally:
        for server in reversed(started):
            subprocess.run(  # noqa: S603 - a replica the test stopped already is fine
                as_server_user(
                    [str(bin_dir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
            )
        shutil.rmtree(home, ignore_errors=True)


async def _execute(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _streamed(live: LiveServer, token: str) -> set[int]:
    """The ids in GET /api/appointments/stream."""
    with live.client(token) as c, c.stream("GET", "/api/appointments/stream") as stream:
        assert stream.status_code == 200
        lines = [orjson.loads(line) for line in stream.iter_lines() if line]
    return {a["id"] for line in lines for a in line["data"]}


def _replica_state(live: LiveServer) -> str:
    state: str = httpx.get(f"{live.url}/readyz").json()["replica"]
    return state


def _reads(live: LiveServer, target: str) -> float:
    text = httpx.get(f"{live.url}/metrics").text
    for line in text.splitlines():
        if line.startswith(f'careslot_lagging_reads_total{{target="{target}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_lagging_reads_use_the_replica_until_it_lags_or_stops(
    primary_and_replica: tuple[Server, Server],
) -> None:
    primary, replica = primary_and_replica
    settings = Settings(
        database_url=primary.url("careslot"),
        database_replica_url=replica.url("careslot"),
        replica_probe_seconds=0.1,
        replica_max_lag_seconds=5,
        redis_url=None,
    )
    with serving(settings) as live:
        eventually(lambda: _replica_state(live) == "ok")
        staff = live.login("staff@demo.careslot", DEMO_PASSWORD)
        everything = _streamed(live, staff)
        assert everything
        from_replica = _reads(live, "replica")
        assert from_replica >= 1
        figures = httpx.get(
            f"{live.url}/api/stats/hospital", headers={"Authorization": f"Bearer {staff}"}
        )
        assert figures.status_code == 200
        assert _reads(live, "replica") == from_replica + 1

        asyncio.run(_execute(replica.url("careslot"), "select pg_wal_replay_pause()"))
        new = _book(live)
        # The patient's own list and the slots are the primary's: the booking shows at once.
        with live.client(new.token) as c:
            assert [a["id"] for a in c.get("/api/appointments").json()["items"]] == [new.id]
            day = new.start[:10]
            slots = c.get("/api/slots", params={"doctorId": new.doctor, "date": day}).json()
            assert new.start not in [s["start"] for s in slots["slots"]]
        # The stream is the replica's, which has not replayed it (and lags < 5 s).
        assert _replica_state(live) == "ok"
        assert new.id not in _streamed(live, staff)

        live.clock.move(dt.timedelta(seconds=10))  # replay still paused: 10 s behind
        eventually(lambda: _replica_state(live) == "lagging")
        before = _reads(live, "primary")
        assert new.id in _streamed(live, staff)  # from the primary
        assert _reads(live, "primary") == before + 1

        asyncio.run(_execute(replica.url("careslot"), "select pg_wal_replay_resume()"))
        eventually(lambda: _replica_state(live) == "ok")
        # "ok" means behind by at most the limit, not by nothing: the replica shows the booking
        # soon after, not necessarily on the first read (seen once in a full run).
        before = _reads(live, "replica")
        eventually(lambda: new.id in _streamed(live, staff))  # the replica caught up
        assert _reads(live, "replica") > before

        replica.stop()
        assert _streamed(live, staff) == everything | {new.id}  # the primary answers
        eventually(lambda: _replica_state(live) == "down")
        figures = httpx.get(
            f"{live.url}/api/stats/hospital", headers={"Authorization": f"Bearer {staff}"}
        )
        assert figures.status_code == 200
        assert httpx.get(f"{live.url}/readyz").status_code == 200  # a node without it serves


@dataclass
class Booked:
    id: int
    token: str
    doctor: int
    start: str


def _book(live: LiveServer) -> Booked:
    with live.client() as c:
        r = c.post(
            "/api/auth/register",
            json={"email": "replica@test.careslot", "password": PASSWORD, "name": "Rep"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        doctor = next(d for d in c.get("/api/doctors").json() if d["name"] == "Dr. Amara Okafor")
        first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        slots = c.get(
            "/api/slots",
            params={
                "doctorId": doctor["id"],
                "from": first.isoformat(),
                "to": (first + dt.timedelta(days=13)).isoformat(),
            },
        ).json()["slots"]
        r = c.post(
            "/api/appointments",
            headers={"Authorization": f"Bearer {token}"},
            json={"doctorId": doctor["id"], "start": slots[0]["start"]},
        )
        assert r.status_code == 201, r.text
        return Booked(r.json()["id"], token, doctor["id"], slots[0]["start"])
