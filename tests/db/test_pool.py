"""The pool drops a connection that failed at the connection level instead of lending it to
the next request; a query error leaves the connection in the pool."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from careslot.config import Settings
from careslot.db.pool import create_pool


async def _backend_after(url: str, failure: BaseException) -> tuple[int, int, bool]:
    pool = await create_pool(Settings(pool_min=1, pool_max=1), url)
    try:
        async with pool.acquire() as conn:
            before: int = await conn.fetchval("select pg_backend_pid()")
            raw = conn._con  # the connection behind the pool's proxy
        try:
            async with pool.acquire() as conn:
                assert await conn.fetchval("select pg_backend_pid()") == before
                raw = conn._con
                raise failure
        except type(failure):
            pass
        async with pool.acquire() as conn:
            after: int = await conn.fetchval("select pg_backend_pid()")
        return before, after, raw.is_closed()
    finally:
        await pool.close()


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_a_broken_connection_is_terminated_not_reused(
    database_url: str, failure: BaseException
) -> None:
    before, after, closed = asyncio.run(_backend_after(database_url, failure))
    assert closed
    assert after != before


def test_a_query_error_keeps_the_connection(database_url: str) -> None:
    before, after, closed = asyncio.run(
        _backend_after(database_url, asyncpg.UniqueViolationError("duplicate key"))
    )
    assert not closed
    assert after == before
