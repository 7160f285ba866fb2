"""`careslot db top`, run as a command against a real server, with or without the library."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg


async def _preloaded_after_some_work(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        for _ in range(3):
            await conn.fetch("select count(*) from appointments where starts_at > now()")
        libraries = await conn.fetchval("show shared_preload_libraries")
    finally:
        await conn.close()
    return "pg_stat_statements" in libraries


def test_db_top(database_url: str) -> None:
    preloaded = asyncio.run(_preloaded_after_some_work(database_url))
    env = {**os.environ, "DATABASE_URL": database_url, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", "from careslot.cli import app; app()", "db", "top"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if preloaded:
        assert done.returncode == 0, done.stderr
        assert "mean ms" in done.stdout
        assert "from appointments where starts_at > now()" in done.stdout
    else:
        assert done.returncode == 1
        assert "shared_preload_libraries" in done.stdout
        assert "Traceback" not in done.stderr
