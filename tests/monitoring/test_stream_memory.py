"""GET /api/appointments/stream: NDJSON batches of 100, in constant server memory.

careslot runs as `careslot serve` in its own process so its resident memory can be sampled
while 200,000 appointments stream through the middleware (which must not buffer them).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import NamedTuple

import asyncpg
import httpx
import orjson
import psutil
import pytest

from careslot.config import Settings
from tests.conftest import LiveServer, free_port

ROWS = 200_000
MAX_GROWTH = 40 * 1024 * 1024  # the whole answer is ~100 MB of JSON


async def _seed(url: str) -> int:
    """ROWS past appointments, 30 minutes apart (so no doctor or patient ever overlaps),
    in blocks of 500 per doctor, spread over the demo patients."""
    conn = await asyncpg.connect(url)
    try:
        # This database is the test's own and is dropped after it. The rows never overlap,
        # so checking the exclusion constraints and foreign keys row by row (about 4x the
        # insert's cost) would prove nothing here.
        await conn.execute("""
            set session_replication_role = replica;
            alter table appointments drop constraint appointments_no_doctor_overlap,
                                     drop constraint appointments_no_client_overlap;
        """)
        await conn.execute(
            """
            with doctor as (select id, department_id, row_number() over (order by id) - 1 as n,
                                   count(*) over () as total from doctors),
                 patient as (select id, row_number() over (order by id) - 1 as n,
                                    count(*) over () as total from users where role = 'patient')
            insert into appointments (client_id, doctor_id, department_id, starts_at, ends_at,
                                      status, reason)
            select p.id, d.id, d.department_id,
                   timestamptz '2000-01-03 08:00+00' + i * interval '30 minutes',
                   timestamptz '2000-01-03 08:20+00' + i * interval '30 minutes',
                   'completed', 'seeded for the stream test'
            from generate_series(0, $1 - 1) i
            join doctor d on d.n = (i / 500) % d.total
            join patient p on p.n = i % p.total
        """,
            ROWS,
        )
        count: int = await conn.fetchval("select count(*) from appointments")
    finally:
        await conn.close()
    return count


class Served(NamedTuple):
    live: LiveServer
    process: psutil.Process
    total: int


@pytest.fixture
def served(database_url: str, settings: Settings) -> Iterator[Served]:
    total = asyncio.run(_seed(database_url))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CARESLOT_MV_REFRESH_SECONDS": "0"}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", "from careslot.cli import app; app()", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "careslot serve did not start"
            time.sleep(0.1)
        yield Served(LiveServer(url, settings), psutil.Process(proc.pid), total)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reaps it and closes the stderr pipe


@pytest.mark.slow
def test_stream_shape_and_constant_memory(served: Served) -> None:
    live, server, total = served
    token = live.login("staff@demo.careslot")
    seen = lines = 0
    sizes: list[int] = []
    baseline = peak = 0
    ids: set[int] = set()
    with live.client(token) as c, c.stream("GET", "/api/appointments/stream") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert "etag" not in r.headers
        assert "content-length" not in r.headers  # streamed, never buffered
        assert "server-timing" in r.headers
        for line in r.iter_lines():
            if not line:
                continue
            batch = orjson.loads(line)
            assert list(batch) == ["data"]
            sizes.append(len(batch["data"]))
            ids.update(row["id"] for row in batch["data"])
            seen += len(batch["data"])
            lines += 1
            if lines == 20:
                baseline = server.memory_info().rss
            elif lines > 20 and lines % 50 == 0:
                peak = max(peak, server.memory_info().rss)
    assert seen == total
    assert len(ids) == total
    assert all(size == 100 for size in sizes[:-1])
    assert 1 <= sizes[-1] <= 100
    assert lines == -(-total // 100)
    assert peak - baseline < MAX_GROWTH, f"RSS grew by {(peak - baseline) / 2**20:.1f} MiB"


def test_stream_is_for_staff(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        assert c.get("/api/appointments/stream").status_code == 403
