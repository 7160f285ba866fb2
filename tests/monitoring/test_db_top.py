"""`careslot db top`, run as a command against a real server, with or without the library."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

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


def test_db_top_where_the_library_is_preloaded(tmp_path: Path) -> None:
    """The working branch, whatever the service server preloads: the embedded PostgreSQL
    (which preloads pg_stat_statements) under its own data directory, started by the
    commands themselves, as on a fresh machine."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"CARESLOT_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"})

    def careslot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-c", "from careslot.cli import app; app()", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    migrated = careslot("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    done = careslot("db", "top", "--limit", "50")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mean ms" in done.stdout
    assert "shared_preload_libraries" not in done.stdout
    # The migrations' own statements were recorded and are listed.
    assert "create" in done.stdout.lower(), done.stdout
