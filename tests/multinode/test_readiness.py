"""/readyz is what the balancer asks (deploy/haproxy.cfg): 503 while this node's version
ships a migration the database lacks (a new node started before `careslot migrate`), 200
once it is there."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.conftest import Serve


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_readyz_is_503_while_a_migration_is_pending(database_url: str, serve: Serve) -> None:
    latest = "(select max(migration_id) from _yoyo_migration)"
    asyncio.run(
        _execute(
            database_url,
            "create table held_back as select * from _yoyo_migration"
            f" where migration_id = {latest}; "
            f"delete from _yoyo_migration where migration_id = {latest}",
        )
    )
    live = serve()
    r = httpx.get(f"{live.url}/readyz")
    assert r.status_code == 503
    assert r.json()["migrations"] == "pending"
    assert r.json()["database"] == "ok"
    asyncio.run(_execute(database_url, "insert into _yoyo_migration select * from held_back"))
    r = httpx.get(f"{live.url}/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "database": "ok",
        "migrations": "ok",
        "cache": "memory",
        "replica": "none",
    }
