"""The asyncpg pool: few warm connections, short timeouts, named for pg_stat_activity."""

from __future__ import annotations

import asyncpg
import orjson

from careslot.config import Settings


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(settings: Settings, database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        max_inactive_connection_lifetime=60.0,
        command_timeout=settings.statement_timeout_ms / 1000 + 1,
        init=_init_connection,
        server_settings={
            "application_name": "careslot",
            "statement_timeout": str(settings.statement_timeout_ms),
            "idle_in_transaction_session_timeout": "15000",
            "jit": "off",
        },
    )
    assert pool is not None
    return pool
