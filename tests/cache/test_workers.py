"""`careslot serve --workers 2`: a write in one worker is visible in every worker the moment
its answer arrives, over LISTEN/NOTIFY alone (the embedded default) and with Redis. The
workers name themselves (CARESLOT_EXPOSE_WORKER), so every check below shows that both
workers answered, before and after each write."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from careslot.cache.repository import LISTENERS
from careslot.seeding.demo import PASSWORD as DEMO_PASSWORD
from tests.api.helpers import PASSWORD
from tests.conftest import free_port

WORKERS = 2
READS = 24


async def _listeners(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        found: int = await conn.fetchval(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and application_name like $1",
            LISTENERS,
        )
        return found
    finally:
        await conn.close()


def serve_workers(database_url: str, redis_url: str | None, **settings: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CARESLOT_CACHE": "on",
        "CARESLOT_EXPOSE_WORKER": "true",
        **{f"CARESLOT_{name.upper()}": value for name, value in settings.items()},
    }
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
    # The log goes to a file: a pipe nobody reads would block the workers once full.
    log = tempfile.TemporaryFile()  # closed below
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")[-5000:]

    try:
        deadline = time.monotonic() + 60
        while asyncio.run(_listeners(database_url)) < WORKERS:
            assert process.poll() is None, output()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        # uvicorn's parent only binds the port; a worker listens on it once its start-up is
        # over, which is after its cache listener connected: until then, connects are refused.
        while not _accepts(url):
            assert process.poll() is None, output()
            assert time.monotonic() < deadline, "no worker listens on the port"
            time.sleep(0.05)
        asyncio.run(_read_everywhere(url, "/healthz", None, {}))  # both answer on the port
        yield url
        assert process.poll() is None, output()  # no worker died during the test
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def _accepts(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.ConnectError:
        return False


def worker_of(answer: httpx.Response) -> int:
    return int(answer.headers["x-careslot-worker"])


async def _read_everywhere(
    url: str, path: str, token: str | None, params: dict[str, Any]
) -> list[httpx.Response]:
    """Reads at once on fresh connections, in rounds until every worker has answered some
    (each answer names its worker); every answer of every round is returned."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    no_reuse = httpx.Limits(max_keepalive_connections=0)  # each read opens a new connection
    answers: list[httpx.Response] = []
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=no_reuse) as c:
        while time.monotonic() < deadline:
            answers += await asyncio.gather(*(c.get(path, params=params) for _ in range(READS)))
            if len({worker_of(a) for a in answers}) == WORKERS:
                return answers
            # A worker still starting takes no connection yet (granian's parent listens on
            # the port before its workers have started): the next round, a moment later.
            await asyncio.sleep(0.05)
    raise AssertionError(f"only workers {sorted({worker_of(a) for a in answers})} answered")


@pytest.fixture(params=["postgres-notify", "redis", "granian"])
def workers(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    """Two workers: under uvicorn, without and with Redis; and under granian (`careslot serve
    --server granian`), whose workers must share the generations the same way."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    server = {"server": "granian"} if request.param == "granian" else {}
    yield from serve_workers(database_url, redis_url, **server)


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
        assert counts == [slots.index(slot) + 1] * len(stats)
        for r in free:
            assert slot["start"] not in [s["start"] for s in r.json()["slots"]]


@dataclass
class Scene:
    url: str
    token: str
    staff: str
    doctor: int
    day: dt.date
    slots: list[str]  # free starts of the doctor that day


def _scene(url: str) -> Scene:
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post(
            "/api/auth/register",
            json={"email": "scene@test.careslot", "password": PASSWORD, "name": "Sena"},
        )
        assert r.status_code == 201, r.text
        staff = c.post(
            "/api/auth/login", json={"email": "staff@demo.careslot", "password": DEMO_PASSWORD}
        )
        assert staff.status_code == 200, staff.text
        doctor = next(d for d in c.get("/api/doctors").json() if d["name"] == "Dr. Amara Okafor")
        day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)  # the server runs in UTC
        for _ in range(7):  # the first day with enough free slots
            slots = c.get(
                "/api/slots", params={"doctorId": doctor["id"], "date": day.isoformat()}
            ).json()["slots"]
            if len(slots) >= 4:
                break
            day += dt.timedelta(days=1)
    assert len(slots) >= 4
    return Scene(
        url,
        r.json()["token"],
        staff.json()["token"],
        doctor["id"],
        day,
        [s["start"] for s in slots],
    )


@dataclass
class Seen:
    """What every worker answered: the patient's upcoming count, the free starts and the
    patient's own appointments (id -> (status, start)), one entry per answer."""

    upcoming: set[int]
    free: list[set[str]]
    own: list[dict[int, tuple[str, str]]]


def _seen(scene: Scene) -> Seen:
    stats = asyncio.run(_read_everywhere(scene.url, "/api/dashboard/stats", scene.token, {}))
    free = asyncio.run(
        _read_everywhere(
            scene.url, "/api/slots", None, {"doctorId": scene.doctor, "date": scene.day.isoformat()}
        )
    )
    own = asyncio.run(_read_everywhere(scene.url, "/api/appointments", scene.token, {}))
    for answer in (*stats, *free, *own):
        assert answer.status_code == 200, answer.text
    return Seen(
        {a.json()["data"]["upcomingCount"] for a in stats},
        [{s["start"] for s in a.json()["slots"]} for a in free],
        [{i["id"]: (i["status"], i["start"]) for i in a.json()["items"]} for a in own],
    )


def _same_instant(a: str, b: str) -> bool:
    return dt.datetime.fromisoformat(a) == dt.datetime.fromisoformat(b)


def _assert_everywhere(
    scene: Scene, *, upcoming: int, free: set[str], taken: set[str], own: dict[int, str]
) -> None:
    seen = _seen(scene)
    assert seen.upcoming == {upcoming}
    for answer in seen.free:
        assert free <= answer, free - answer
        assert not taken & answer, taken & answer
    for answer in seen.own:
        assert {i: status for i, (status, _) in answer.items()} == own


def _patch(scene: Scene, token: str, appointment: int, body: dict[str, str]) -> httpx.Response:
    with httpx.Client(
        base_url=scene.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        return c.patch(f"/api/appointments/{appointment}", json=body)


def _book(scene: Scene, start: str) -> int:
    with httpx.Client(
        base_url=scene.url, timeout=30, headers={"Authorization": f"Bearer {scene.token}"}
    ) as c:
        r = c.post("/api/appointments", json={"doctorId": scene.doctor, "start": start})
    assert r.status_code == 201, r.text
    appointment: int = r.json()["id"]
    return appointment


def test_cancel_reschedule_and_status_moves_are_fresh_in_every_worker(workers: str) -> None:
    scene = _scene(workers)
    a, b, c_, d = scene.slots[:4]
    _assert_everywhere(scene, upcoming=0, free={a, b, c_, d}, taken=set(), own={})
    kept = _book(scene, a)
    _assert_everywhere(scene, upcoming=1, free={b, c_, d}, taken={a}, own={kept: "scheduled"})
    # The patient reschedules: the old slot is free again everywhere, the new one gone.
    assert _patch(scene, scene.token, kept, {"start": b}).status_code == 200
    _assert_everywhere(scene, upcoming=1, free={a, c_, d}, taken={b}, own={kept: "scheduled"})
    # Staff move its status: the patient's own list follows in every worker.
    for status in ("confirmed", "checked_in"):
        assert _patch(scene, scene.staff, kept, {"status": status}).status_code == 200
        _assert_everywhere(scene, upcoming=1, free={a, c_, d}, taken={b}, own={kept: status})
    # Another booking, cancelled by the patient: its slot comes back everywhere.
    dropped = _book(scene, c_)
    _assert_everywhere(
        scene,
        upcoming=2,
        free={a, d},
        taken={b, c_},
        own={kept: "checked_in", dropped: "scheduled"},
    )
    assert _patch(scene, scene.token, dropped, {"status": "cancelled"}).status_code == 200
    _assert_everywhere(
        scene,
        upcoming=1,
        free={a, c_, d},
        taken={b},
        own={kept: "checked_in", dropped: "cancelled"},
    )


@pytest.fixture
def notify_workers(database_url: str) -> Iterator[tuple[str, str]]:
    # A killed channel stays down for the whole test (restored only after 60 s), so what a
    # worker does without it is what the test sees.
    for url in serve_workers(database_url, None, cache_channel_check_seconds="60"):
        yield url, database_url


async def _terminate_listeners(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        killed: int = await conn.fetchval(
            "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and application_name like $1) t",
            LISTENERS,
        )
        return killed
    finally:
        await conn.close()


def test_a_write_right_after_the_listeners_are_killed_is_never_stale(
    notify_workers: tuple[str, str],
) -> None:
    url, database_url = notify_workers
    scene = _scene(url)
    a, b = scene.slots[:2]
    _assert_everywhere(scene, upcoming=0, free={a, b}, taken=set(), own={})  # cached everywhere
    assert asyncio.run(_terminate_listeners(database_url)) == WORKERS
    # Without their channel, the workers read everywhere again (a worker that kept caching
    # now would keep these answers), then a write that no other worker hears of.
    _assert_everywhere(scene, upcoming=0, free={a, b}, taken=set(), own={})
    booked = _book(scene, a)
    _assert_everywhere(scene, upcoming=1, free={b}, taken={a}, own={booked: "scheduled"})


def _connect_to_a_running_worker(client: httpx.Client) -> None:
    """Keep in `client` a connection that a running worker holds: the kernel deals each new
    connection to one worker's socket (serving.py: WorkerPort), a stopped one's included,
    and a connection it holds answers nothing until it runs again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            client.get("/healthz", timeout=0.5)  # kept alive in the client's pool once answered
            return
        except httpx.TimeoutException:  # that connection is closed; the next try opens another
            assert time.monotonic() < deadline, "no connection reached a running worker"


@pytest.fixture
def slow_ack_workers(database_url: str) -> Iterator[str]:
    # A write that waited for a worker's acknowledgement would wait 30 s for a stopped one.
    yield from serve_workers(database_url, None, cache_ack_timeout_ms="30000")


def test_a_stopped_sibling_neither_delays_the_201_nor_is_stale_when_it_wakes(
    slow_ack_workers: str,
) -> None:
    """The workers of one server share the cache's generations (cache/generations.py): a
    write makes its tags stale in a stopped sibling without waiting for it. Were the sibling
    waited for, the write would outlast the client's 10 s (its ack timeout is 30 s here)."""
    url = slow_ack_workers
    scene = _scene(url)
    a, b = scene.slots[:2]
    _assert_everywhere(scene, upcoming=0, free={a, b}, taken=set(), own={})  # cached everywhere
    pids = {worker_of(r) for r in asyncio.run(_read_everywhere(url, "/healthz", None, {}))}
    frozen = min(pids)
    os.kill(frozen, signal.SIGSTOP)
    try:
        with httpx.Client(
            base_url=url, timeout=10, headers={"Authorization": f"Bearer {scene.token}"}
        ) as c:
            _connect_to_a_running_worker(c)
            r = c.post("/api/appointments", json={"doctorId": scene.doctor, "start": a})
        assert r.status_code == 201, r.text
        assert worker_of(r) != frozen  # a stopped process answers nothing
    finally:
        # uvicorn replaces a worker that stays stopped for 5 s: it may be gone by now.
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen, signal.SIGCONT)
    _assert_everywhere(scene, upcoming=1, free={b}, taken={a}, own={r.json()["id"]: "scheduled"})
