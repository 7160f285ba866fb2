"""PostgreSQL's plan for a query, for tests that check how the database runs it."""

from __future__ import annotations

import asyncio

import asyncpg


def plan_of(
    database_url: str, query: str, *args: object, options: str = "costs off", first: str = ""
) -> str:
    """EXPLAIN (`options`) of `query` as text, on a connection of its own (after `first`)."""

    async def explain() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            if first:
                await conn.execute(first)
            rows = await conn.fetch(f"explain ({options}) {query}", *args)
            return "\n".join(r[0] for r in rows)
        finally:
            await conn.close()

    return asyncio.run(explain())
