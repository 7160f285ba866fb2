"""The bench database: find or seed one of the asked size, and check it afterwards."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from rich.console import Console

from careslot.config import Settings
from careslot.db.migrate import apply_migrations
from careslot.seeding.bulk import run_bulk_seed

SEED_RECORD_KEY = "bench_seed"

# Live appointments of one doctor (or one patient) in start order: any that starts before
# the latest end among those before it overlaps one of them (half-open ranges, so touching
# is fine). Equivalent to a self-join on overlapping ranges, and a sort instead of a million
# index probes, so it stays a few seconds at 1M rows. The exclusion constraints should make
# both counts 0; this checks the outcome, not the mechanism.
DOUBLE_BOOKINGS_SQL = """
select count(*) filter (where starts_at < earlier_end) from (
  select starts_at, max(ends_at) over (
           partition by {owner} order by starts_at, id
           rows between unbounded preceding and 1 preceding) as earlier_end
  from appointments where status <> 'cancelled') live
"""


@dataclass(slots=True)
class BenchDatabase:
    url: str
    name: str
    appointments: int
    reused: bool
    seed_seconds: float | None  # time the seeder took for this database (stored on seeding)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def server_url(settings: Settings) -> str:
    """DATABASE_URL's server, or an embedded server with its own data dir for the bench."""
    if settings.database_url:
        return settings.database_url
    from careslot.db.embedded import start_embedded

    return start_embedded(Path(settings.data_dir) / "bench")


def candidate_names(appointments: int) -> list[str]:
    names = [f"careslot_bench_{appointments}"]
    if appointments == 1_000_000:
        names.append("careslot_1m")  # the 1M database `careslot seed` users make by hand
    return names


async def _exists(admin_url: str, name: str) -> bool:
    conn = await asyncpg.connect(admin_url)
    try:
        return bool(await conn.fetchval("select 1 from pg_database where datname = $1", name))
    finally:
        await conn.close()


async def _recreate(admin_url: str, name: str, *, template: str | None = None) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
        copy = f' template "{template}"' if template else ""
        await conn.execute(f'create database "{name}"{copy}')
    finally:
        await conn.close()


async def _facts(url: str) -> tuple[int, float | None]:
    conn = await asyncpg.connect(url)
    try:
        count = await conn.fetchval("select count(*) from appointments")
        raw = await conn.fetchval("select value from settings where key = $1", SEED_RECORD_KEY)
        record = json.loads(raw) if isinstance(raw, str) else raw
        return int(count), (float(record["seconds"]) if record else None)
    finally:
        await conn.close()


async def _store_seed_time(url: str, appointments: int, seconds: float) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "insert into settings (key, value) values ($1, $2::jsonb) "
            "on conflict (key) do update set value = excluded.value",
            SEED_RECORD_KEY,
            json.dumps({"appointments": appointments, "seconds": seconds}),
        )
    finally:
        await conn.close()


def prepare(
    settings: Settings,
    *,
    appointments: int,
    reuse: bool,
    console: Console,
    name: str | None = None,
) -> BenchDatabase:
    """Reuse (with reuse=True) or build the database for this size."""
    base = server_url(settings)
    admin = with_database(base, "postgres")
    names = [name] if name else candidate_names(appointments)
    if reuse or name:
        for candidate in names:
            if asyncio.run(_exists(admin, candidate)):
                url = with_database(base, candidate)
                apply_migrations(url)
                count, seconds = asyncio.run(_facts(url))
                console.print(f"reusing database {candidate} ({count:,} appointments)")
                return BenchDatabase(url, candidate, count, True, seconds)
    target = names[0]
    asyncio.run(_recreate(admin, target))
    url = with_database(base, target)
    apply_migrations(url)
    seconds = _seed(url, settings, appointments=appointments, console=console)
    count, _ = asyncio.run(_facts(url))
    asyncio.run(_store_seed_time(url, count, seconds))
    return BenchDatabase(url, target, count, False, seconds)


@contextmanager
def copy_of(db: BenchDatabase, mode: str) -> Iterator[BenchDatabase]:
    """A scratch copy of the bench database for one mode, dropped afterwards.

    Both modes then start from the same rows, planner statistics and free slots. Run one
    after the other on one database, the second ran on the first one's writes (a quarter
    more appointments after a --quick run, their dead tuples, part of the slots taken), and
    in the burst it booked up to 30% fewer times a second than the first, whichever mode
    that was. The copy is a file copy of the template (CREATE DATABASE … TEMPLATE), a
    fraction of a second at 10,000 appointments; no connection to the template may be open
    meanwhile."""
    admin = with_database(db.url, "postgres")
    name = f"{db.name}__{mode}"
    asyncio.run(_recreate(admin, name, template=db.name))  # drops a crashed run's copy first
    url = with_database(db.url, name)
    count, _ = asyncio.run(_facts(url))
    try:
        yield replace(db, url=url, name=name, appointments=count)
    finally:
        asyncio.run(drop(admin, name))


async def drop(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, whoever is connected to it."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


def _seed(
    url: str,
    settings: Settings,
    *,
    appointments: int,
    console: Console,
) -> float:
    started = time.perf_counter()
    console.print(f"seeding {appointments:,} appointments …")
    run_bulk_seed(
        url,
        settings,
        appointments=appointments,
        patients=None,
        doctors=None,
        seed=42,
        console=console,
    )
    seconds = time.perf_counter() - started
    console.print(f"seeded in {seconds:.1f} s")
    return seconds


async def double_bookings(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        doctor = await conn.fetchval(DOUBLE_BOOKINGS_SQL.format(owner="doctor_id"))
        patient = await conn.fetchval(DOUBLE_BOOKINGS_SQL.format(owner="client_id"))
        return {
            "doctor": int(doctor),
            "patient": int(patient),
            "total": int(doctor) + int(patient),
            "check_seconds": round(time.perf_counter() - started, 3),
        }
    finally:
        await conn.close()


async def cancel_leftovers(url: str, reason: str) -> int:
    """Cancel live future bookings an earlier bench left behind (reused databases), so the
    bench's patients stay under the booking limit. No server is running at this point."""
    conn = await asyncpg.connect(url)
    try:
        status = await conn.execute(
            "update appointments set status = 'cancelled', updated_at = now() "
            "where reason = $1 and status in ('scheduled', 'confirmed') and starts_at > now()",
            reason,
        )
        return int(status.split()[-1])
    finally:
        await conn.close()


async def statement_calls(url: str) -> int | None:
    """Statements this database ran so far (pg_stat_statements), or None where absent."""
    conn = await asyncpg.connect(url)
    try:
        try:
            await conn.execute("create extension if not exists pg_stat_statements")
            value = await conn.fetchval(
                "select coalesce(sum(calls), 0) from pg_stat_statements "
                "where dbid = (select oid from pg_database where datname = current_database()) "
                "and query not ilike '%pg_stat_statements%'"
            )
        except asyncpg.PostgresError:  # not preloaded on this server
            return None
        return int(value)
    finally:
        await conn.close()


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("show server_version"))
    finally:
        await conn.close()
