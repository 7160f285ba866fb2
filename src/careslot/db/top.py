"""`careslot db top`: the guide's monitoring query over pg_stat_statements, as a table."""

from __future__ import annotations

import re
from typing import NamedTuple

import asyncpg
from rich.table import Table

# The guide's query, limited to this database (the view covers the whole server).
TOP = """
select query, mean_exec_time, calls
from pg_stat_statements
where dbid = (select oid from pg_database where datname = current_database())
order by mean_exec_time desc
limit $1
"""
NOT_INSTALLED = (
    "pg_stat_statements is not installed in this database: run "
    "`create extension pg_stat_statements` as a superuser (careslot's migration "
    "does it where the server ships the extension)"
)
NOT_LOADED = (
    "pg_stat_statements is installed but the server does not load it: add "
    "shared_preload_libraries = 'pg_stat_statements' to postgresql.conf and restart "
    "PostgreSQL (the embedded server does this itself)"
)


class Statement(NamedTuple):
    query: str | None  # None where the server could not read the statement's text
    mean_exec_time: float  # ms
    calls: int


class StatementsUnavailable(Exception):
    """pg_stat_statements cannot be read here; the message says why and what to do."""


async def top_statements(database_url: str, *, limit: int = 10) -> list[Statement]:
    conn = await asyncpg.connect(
        database_url, server_settings={"application_name": "careslot-db-top"}
    )
    try:
        rows = await conn.fetch(TOP, limit)
    except asyncpg.UndefinedTableError as exc:
        raise StatementsUnavailable(NOT_INSTALLED) from exc
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        raise StatementsUnavailable(NOT_LOADED) from exc
    finally:
        await conn.close()
    return [Statement(*r) for r in rows]


def render(rows: list[Statement], *, width: int = 100) -> Table:
    table = Table(title="Slowest statements by mean time (pg_stat_statements)")
    table.add_column("query", overflow="fold")
    table.add_column("mean ms", justify="right")
    table.add_column("calls", justify="right")
    for row in rows:
        query = re.sub(r"\s+", " ", row.query or "").strip()
        if len(query) > width:
            query = query[: width - 1] + "…"
        table.add_row(query, f"{row.mean_exec_time:.3f}", f"{row.calls:,}")
    return table
