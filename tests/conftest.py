"""Test infrastructure: real PostgreSQL (DATABASE_URL, or the embedded server), a fresh
database per test cloned from a migrated template, and careslot served over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

# Cheap argon2 parameters keep the suite fast; production defaults live in config.py.
os.environ.setdefault("CARESLOT_ARGON2_TIME_COST", "1")
os.environ.setdefault("CARESLOT_ARGON2_MEMORY_KIB", "8192")
# Every test client is 127.0.0.1: per-address limits are off unless a test turns them on.
os.environ.setdefault("CARESLOT_LOGIN_FAILURES_PER_ADDRESS", "0")
os.environ.setdefault("CARESLOT_REGISTRATIONS_PER_ADDRESS", "0")

from careslot.clock import MovableClock
from careslot.config import Settings
from careslot.db.migrate import apply_migrations
from careslot.seeding.demo import PASSWORD

IN_CI = os.environ.get("CI") == "true"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A superuser URL on a real PostgreSQL server."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield with_database(url, "postgres")
        return
    from careslot.db.embedded import start_embedded, stop_embedded

    embedded = start_embedded(tmp_path_factory.mktemp("pg"))
    os.environ.pop("DATABASE_URL", None)  # start_embedded exports it; tests pick per-test DBs
    yield with_database(embedded, "postgres")
    stop_embedded()


def migrate_and_seed_demo(url: str) -> None:
    """The schema and the demo hospital, in the database at `url`."""
    apply_migrations(url)

    async def seed() -> None:
        from careslot.seeding.demo import seed_demo

        conn = await asyncpg.connect(url)
        try:
            await seed_demo(conn, Settings(database_url=url))
        finally:
            await conn.close()

    asyncio.run(seed())


@pytest.fixture(scope="session")
def template_url(admin_url: str) -> Iterator[str]:
    name = f"careslot_tpl_{os.getpid()}"
    asyncio.run(
        _admin(admin_url, f"drop database if exists {name} with (force)", f"create database {name}")
    )
    url = with_database(admin_url, name)
    migrate_and_seed_demo(url)
    yield url
    asyncio.run(_admin(admin_url, f"drop database if exists {name} with (force)"))


@pytest.fixture
def database_url(admin_url: str, template_url: str) -> Iterator[str]:
    """A fresh database with the schema and the demo hospital, just for this test."""
    template = urlsplit(template_url).path.lstrip("/")
    name = f"careslot_t_{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin(admin_url, f"create database {name} template {template}"))
    yield with_database(admin_url, name)
    asyncio.run(_admin(admin_url, f"drop database if exists {name} with (force)"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, redis_url=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    settings: Settings
    # The server's clock: real time plus an offset; tests move it instead of sleeping.
    clock: MovableClock = field(default_factory=MovableClock)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def login(self, email: str, password: str = PASSWORD) -> str:
        with self.client() as c:
            r = c.post("/api/auth/login", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            token: str = r.json()["token"]
            return token


def serve_in_thread(settings: Settings) -> Iterator[LiveServer]:
    import uvicorn

    from careslot.app import create_app

    port = free_port()
    clock = MovableClock()
    app = create_app(settings, database_url=settings.database_url, clock=clock)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        loop="asyncio",
        lifespan="on",
        proxy_headers=False,  # as careslot serve: X-Forwarded-For only via trusted_proxies
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("careslot did not start")
        time.sleep(0.01)
    yield LiveServer(f"http://127.0.0.1:{port}", settings, clock)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    """careslot on a real port, over real HTTP, against this test's database."""
    yield from serve_in_thread(settings)


@pytest.fixture
def patient_token(live: LiveServer) -> str:
    return live.login("patient@demo.careslot")


@pytest.fixture
def staff_token(live: LiveServer) -> str:
    return live.login("staff@demo.careslot")
