"""The dashboard refresher where pg_cron is installed: the leader hands the refresh to pg_cron,
and pg_cron really runs it.

pg_cron must be in shared_preload_libraries, which the service PostgreSQL cannot take without
a restart every other test would feel; so these tests start a PostgreSQL server of their own
from the system's binaries (Debian's postgresql-NN-cron next to them), with pg_cron loaded
for a `careslot` database that holds the schema and the demo hospital. pg_cron missing: skip
on a developer machine, FAIL in CI (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from careslot.dashboard.mv import CRON_JOB, REFRESH, REFRESHED_AT, MvRefresher
from tests.conftest import IN_CI, free_port, migrate_and_seed_demo, settings_for

pytestmark = pytest.mark.slow

PG_CRON = sorted(Path("/usr/lib/postgresql").glob("*/lib/pg_cron.so"))


class CronServer:
    """initdb + pg_ctl under a directory of its own, as the postgres user when we are root
    (PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's basetemp: its 0700 folders are closed to the postgres user.
        self.home = Path(tempfile.mkdtemp(prefix="careslot-pgcron-"))
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.home, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(  # noqa: S603 - the system's PostgreSQL tools, our arguments
            command, capture_output=True, text=True, timeout=120, check=False, cwd=self.home
        )
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    def start(self) -> str:
        data = str(self.home / "data")
        self._run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = " ".join(
            (
                f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1",
                "-c shared_preload_libraries=pg_cron",
                "-c cron.database_name=careslot -c cron.host=127.0.0.1",
                "-c fsync=off",
            )
        )
        log = str(self.home / "server.log")
        self._run("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if (self.home / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.home / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.home, ignore_errors=True)


async def _execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def cron_url() -> Iterator[str]:
    if not PG_CRON:
        reason = "pg_cron is not installed (apt-get install postgresql-15-cron)"
        if IN_CI:
            pytest.fail(f"{reason}; .ci/run installs it")
        pytest.skip(reason)
    server = CronServer(PG_CRON[-1].parents[1] / "bin")
    try:
        root = server.start()
        asyncio.run(_execute(f"{root}/postgres", "create database careslot"))
        url = f"{root}/careslot"
        migrate_and_seed_demo(url)
        asyncio.run(_execute(url, "create extension pg_cron"))
        yield url
    finally:
        server.stop()


@pytest.fixture
def cron(cron_url: str) -> Iterator[str]:
    """No job left from an earlier test."""
    yield cron_url
    asyncio.run(_execute(cron_url, "select cron.unschedule(jobid) from cron.job"))


async def _leader(url: str, seconds: float) -> MvRefresher:
    refresher = MvRefresher(url, settings_for(url, mv_refresh_seconds=seconds))
    await refresher.tick()
    return refresher


async def _cron_version(url: str) -> tuple[int, ...]:
    conn = await asyncpg.connect(url)
    try:
        version: str = await conn.fetchval(
            "select extversion from pg_extension where extname = 'pg_cron'"
        )
    finally:
        await conn.close()
    return tuple(int(part) for part in version.split("-")[0].split("."))


def test_the_leader_hands_the_refresh_to_pg_cron_which_runs_it(cron: str) -> None:
    """A minute interval: every pg_cron takes `*/1 * * * *`. pg_cron runs on the wall clock
    (the server's, which no test clock moves), so this waits for its next minute: at most
    about 60 s."""

    async def scenario() -> None:
        refresher = await _leader(cron, 60)
        conn = await asyncpg.connect(cron)
        try:
            assert refresher.leader
            assert refresher.mode == "pg_cron"
            assert refresher.refreshes == 0  # the app leaves it to pg_cron
            job = await conn.fetchrow(
                "select jobid, schedule, command, database from cron.job where jobname = $1",
                CRON_JOB,
            )
            assert job is not None
            assert (job["schedule"], job["database"]) == ("*/1 * * * *", "careslot")
            assert job["command"].endswith(REFRESH)
            before = await conn.fetchval(REFRESHED_AT)
            deadline = time.monotonic() + 75
            while True:
                run = await conn.fetchrow(
                    "select status, return_message from cron.job_run_details "
                    "where jobid = $1 and status in ('succeeded', 'failed')",
                    job["jobid"],
                )
                if run is not None:
                    break
                assert time.monotonic() < deadline, "pg_cron never ran the refresh"
                await asyncio.sleep(0.5)
            assert run["status"] == "succeeded", run["return_message"]
            after = await conn.fetchval(REFRESHED_AT)
            assert after is not None
            assert before is None or after > before
            await refresher.tick()  # the leader still leaves it to pg_cron
            assert refresher.refreshes == 0
        finally:
            await conn.close()
            await refresher.stop()

    asyncio.run(scenario())


def test_an_interval_pg_cron_cannot_take_stays_with_the_app(cron: str) -> None:
    """30 s needs pg_cron 1.5's seconds schedules; an older pg_cron (Debian bookworm ships
    1.4) refuses it, and the app refreshes every 30 s itself rather than every minute."""

    async def scenario() -> None:
        refresher = await _leader(cron, 30)
        conn = await asyncpg.connect(cron)
        try:
            takes_seconds = await _cron_version(cron) >= (1, 5)
            jobs = await conn.fetch("select schedule from cron.job where jobname = $1", CRON_JOB)
            assert refresher.leader
            if takes_seconds:
                assert refresher.mode == "pg_cron"
                assert [job["schedule"] for job in jobs] == ["30 seconds"]
            else:  # in-app refreshing itself is test_mv.py's
                assert refresher.mode == "app"
                assert jobs == []
        finally:
            await conn.close()
            await refresher.stop()

    asyncio.run(scenario())
