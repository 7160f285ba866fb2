"""careslot behind Debian's PgBouncer in transaction mode, with the shipped
deploy/pgbouncer.ini: two careslot servers whose pools go through PgBouncer
(CARESLOT_STATEMENT_CACHE_SIZE=0) and whose listeners and leader locks go straight to the
primary (DATABASE_DIRECT_URL). Reads, a booking, its invalidation on the other server, its
mail, a cancellation and the NDJSON stream all work, the requests' transactions are
PgBouncer's, and careslot's statement timeout still applies on pooled connections."""

from __future__ import annotations

import asyncio
import subprocess
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from careslot.config import Settings
from careslot.seeding.demo import PASSWORD as DEMO_PASSWORD
from tests.api.helpers import PASSWORD
from tests.conftest import LiveServer, serving, with_database
from tests.messages.conftest import MailSink
from tests.multinode.conftest import Process, eventually, fetchval, postgres_bin, start_pgbouncer

pytestmark = pytest.mark.slow


def _transactions(bouncer_url: str, database: str) -> int:
    """PgBouncer's own count of transactions it carried to `database` (SHOW STATS)."""
    where = urlsplit(bouncer_url)
    psql = str(postgres_bin() / "psql")
    where_to = ["-h", "127.0.0.1", "-p", str(where.port), "-U", str(where.username)]
    out = subprocess.run(  # noqa: S603
        [psql, *where_to, "-d", "pgbouncer", "-AtF", "|", "-c", "SHOW STATS"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        fields = line.split("|")
        if fields[0] == database:
            return int(fields[1])  # total_xact_count
    return 0


def test_careslot_behind_pgbouncer_in_transaction_mode(
    database_url: str, processes: list[Process], sink: MailSink
) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    bouncer = with_database(start_pgbouncer(database_url, processes), name)
    # Every pooled connection gets careslot's timeouts from connect_query.
    assert asyncio.run(fetchval(bouncer, "show statement_timeout")) == "10s"
    settings = Settings(
        database_url=bouncer,
        database_direct_url=database_url,
        statement_cache_size=0,
        redis_url=None,
        smtp_url=sink.url,
        reminders="",
    )
    before = _transactions(bouncer, name)
    with ExitStack() as stack:
        one: LiveServer = stack.enter_context(serving(settings))
        two: LiveServer = stack.enter_context(serving(settings))
        with httpx.Client(base_url=one.url, timeout=30) as c:
            r = c.post(
                "/api/auth/register",
                json={"email": "bouncer@test.careslot", "password": PASSWORD, "name": "Bo"},
            )
            assert r.status_code == 201, r.text
            token = r.json()["token"]
            doctor = next(
                d for d in c.get("/api/doctors").json() if d["name"] == "Dr. Amara Okafor"
            )["id"]
            slots = c.get(
                "/api/slots", params={"doctorId": doctor, "from": _day(1), "to": _day(14)}
            )
            start = slots.json()["slots"][0]["start"]
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(2):  # cached on the second server
            assert httpx.get(f"{two.url}/api/appointments", headers=auth).json()["items"] == []
        booked = httpx.post(
            f"{one.url}/api/appointments", headers=auth, json={"doctorId": doctor, "start": start}
        )
        assert booked.status_code == 201, booked.text
        # The invalidation went over the direct listeners: the second server already knows.
        mine = httpx.get(f"{two.url}/api/appointments", headers=auth).json()["items"]
        assert [a["start"] for a in mine] == [start]
        eventually(lambda: len(sink.to("bouncer@test.careslot")) == 1)  # the leader mailed
        cancelled = httpx.patch(
            f"{two.url}/api/appointments/{booked.json()['id']}",
            headers=auth,
            json={"status": "cancelled"},
        )
        assert cancelled.status_code == 200, cancelled.text
        staff = one.login("staff@demo.careslot", DEMO_PASSWORD)
        with one.client(staff) as c, c.stream("GET", "/api/appointments/stream") as stream:
            assert stream.status_code == 200
            lines = [orjson.loads(line) for line in stream.iter_lines() if line]
        streamed = {a["id"]: a["status"] for line in lines for a in line["data"]}
        assert streamed[booked.json()["id"]] == "cancelled"
    # Every request above went through PgBouncer's transactions, not around it.
    assert _transactions(bouncer, name) - before >= 10


def _day(ahead: int) -> str:
    import datetime as dt

    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=ahead)).isoformat()
