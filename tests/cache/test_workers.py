"""`careslot serve --workers 2`: a write in one worker is visible in every worker the moment
its 201 arrives, over LISTEN/NOTIFY alone (the embedded default) and with Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from careslot.cache.repository import LISTENER_NAME
from tests.api.helpers import PASSWORD
from tests.conftest import free_port

WORKERS = 2
READS = 24


async def _listeners(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        found: int = await conn.fetchval(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and application_name = $1",
            LISTENER_NAME,
        )
        return found
    finally:
        await conn.close()


def serve_workers(database_url: str, redis_url: str | None) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CARESLOT_CACHE": "on"}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    command = [
        str(Path(sys.executable).parent / "careslot"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
    ]
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while asyncio.run(_listeners(database_url)) < WORKERS:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stderr:
            process.stderr.close()


async def _read_everywhere(
    url: str, path: str, token: str | None, params: dict[str, Any]
) -> list[httpx.Response]:
    """Many reads at once on fresh connections, so every worker answers some of them."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    no_reuse = httpx.Limits(max_keepalive_connections=0)  # each read opens a new connection
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=no_reuse) as c:
        return list(await asyncio.gather(*(c.get(path, params=params) for _ in range(READS))))


@pytest.fixture(params=["postgres-notify", "redis"])
def workers(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    yield from serve_workers(database_url, redis_url)


def test_booking_is_fresh_in_every_worker(workers: str) -> None:
    with httpx.Client(base_url=workers, timeout=30) as c:
        r = c.post(
            "/api/auth/register",
            json={"email": "w@test.careslot", "password": PASSWORD, "name": "Wen"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        doctor = next(d for d in c.get("/api/doctors").json() if d["name"] == "Dr. Amara Okafor")[
            "id"
        ]
        day = dt.datetime.now(dt.UTC).date()  # the server runs in UTC + dt.timedelta(days=1)
        for _ in range(7):  # the first bookable weekday with free slots
            slots = c.get(
                "/api/slots", params={"doctorId": doctor, "date": day.isoformat()}
            ).json()["slots"]
            if slots:
                break
            day += dt.timedelta(days=1)
        assert slots
    slot_params = {"doctorId": doctor, "date": day.isoformat()}
    for _ in range(2):  # both workers now hold both answers in layer 1
        stats = asyncio.run(_read_everywhere(workers, "/api/dashboard/stats", token, {}))
        free = asyncio.run(_read_everywhere(workers, "/api/slots", None, slot_params))
    assert {r.json()["data"]["upcomingCount"] for r in stats} == {0}
    assert all(slots[0]["start"] in [s["start"] for s in r.json()["slots"]] for r in free)

    for slot in slots[:3]:
        with httpx.Client(
            base_url=workers, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as c:
            booked = c.post("/api/appointments", json={"doctorId": doctor, "start": slot["start"]})
            assert booked.status_code == 201, booked.text
        # Right after the 201, on fresh connections to any worker:
        stats = asyncio.run(_read_everywhere(workers, "/api/dashboard/stats", token, {}))
        free = asyncio.run(_read_everywhere(workers, "/api/slots", None, slot_params))
        counts = [r.json()["data"]["upcomingCount"] for r in stats]
        assert counts == [slots.index(slot) + 1] * READS
        for r in free:
            assert slot["start"] not in [s["start"] for s in r.json()["slots"]]
