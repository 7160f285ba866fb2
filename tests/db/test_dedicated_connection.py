"""A listener's or leader's own connection whose setup fails or is cancelled is closed at
once, not dropped with its backend still open (a server stopped while its sender, sweeper or
cache listener was connecting left such connections to the collector: an unclosed-connection
warning in a later test, and an idle backend until then)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from careslot.db.pool import dedicated_connection


@pytest.fixture
def name() -> str:
    """An application_name of this test's own, to find its backend in pg_stat_activity."""
    return f"careslot-test-{uuid.uuid4().hex[:12]}"


async def _backends(database_url: str, name: str) -> int:
    """Backends still open under `name`, once the server has seen every goodbye."""
    conn = await asyncpg.connect(database_url)
    try:
        count: int = -1
        for _ in range(100):  # a terminated client's backend exits when it reads the EOF
            count = await conn.fetchval(
                "select count(*) from pg_stat_activity where application_name = $1", name
            )
            if count == 0:
                break
            await asyncio.sleep(0.02)
        return count
    finally:
        await conn.close()


async def test_a_setup_that_fails_closes_the_connection(database_url: str, name: str) -> None:
    seen: list[asyncpg.Connection] = []

    async def setup(conn: asyncpg.Connection) -> None:
        seen.append(conn)
        await conn.execute("listen some_channel")
        raise RuntimeError("setup failed")

    with pytest.raises(RuntimeError, match="setup failed"):
        await dedicated_connection(database_url, setup, server_settings={"application_name": name})
    (conn,) = seen
    assert conn.is_closed()
    assert await _backends(database_url, name) == 0


async def test_a_cancelled_setup_closes_the_connection(database_url: str, name: str) -> None:
    started = asyncio.Event()
    seen: list[asyncpg.Connection] = []

    async def setup(conn: asyncpg.Connection) -> None:
        seen.append(conn)
        started.set()
        await asyncio.Event().wait()  # until cancelled, as at a server's shutdown

    task = asyncio.create_task(
        dedicated_connection(database_url, setup, server_settings={"application_name": name})
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (conn,) = seen
    assert conn.is_closed()
    assert await _backends(database_url, name) == 0


async def test_a_setup_that_succeeds_hands_the_connection_over(
    database_url: str, name: str
) -> None:

    async def setup(conn: asyncpg.Connection) -> None:
        await conn.execute("listen some_channel")

    conn = await dedicated_connection(
        database_url, setup, server_settings={"application_name": name}
    )
    try:
        assert not conn.is_closed()
        assert await conn.fetchval("select current_setting('application_name')") == name
    finally:
        await conn.close()
