"""The bench's double-booking check finds overlaps when the constraints are not there; each
mode's copy of the bench database starts as the template and leaves it as it was."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from careslot.bench.database import (
    BenchDatabase,
    copy_of,
    double_bookings,
    drop,
    with_database,
)

# (doctor, client, start hour, end hour, status): doctor 1 has one overlap (9-10 and 9:30),
# patient 7 one (two doctors at 14-15 and 14:30-15:30); touching ranges and cancelled rows
# are no double booking.
ROWS = [
    (1, 5, 9.0, 10.0, "scheduled"),
    (1, 6, 9.5, 10.5, "confirmed"),
    (1, 8, 10.5, 11.0, "scheduled"),
    (1, 9, 10.75, 11.0, "cancelled"),
    (2, 7, 14.0, 15.0, "scheduled"),
    (3, 7, 14.5, 15.5, "checked_in"),
    (4, 10, 8.0, 9.0, "completed"),
    (4, 11, 9.0, 10.0, "scheduled"),
]


async def _create(admin_url: str, name: str) -> str:
    """A database of ROWS (and the settings table the bench reads its seed record from)."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
        await admin.execute(f"create database {name}")
    finally:
        await admin.close()
    url = with_database(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "create table appointments (id bigint generated always as identity primary key,"
            " doctor_id bigint, client_id bigint, starts_at timestamptz, ends_at timestamptz,"
            " status text)"
        )
        await conn.executemany(
            "insert into appointments (doctor_id, client_id, starts_at, ends_at, status) "
            "values ($1, $2, '2030-01-07'::timestamptz + make_interval(secs => $3 * 3600),"
            " '2030-01-07'::timestamptz + make_interval(secs => $4 * 3600), $5)",
            ROWS,
        )
        await conn.execute("create table settings (key text primary key, value jsonb)")
    finally:
        await conn.close()
    return url


async def _check(admin_url: str) -> dict[str, object]:
    name = f"careslot_bench_check_{os.getpid()}"
    url = await _create(admin_url, name)
    try:
        return await double_bookings(url)
    finally:
        await drop(admin_url, name)


async def _fetch(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_double_booking_check_counts_overlaps_only(admin_url: str) -> None:
    found = asyncio.run(_check(admin_url))
    assert (found["doctor"], found["patient"], found["total"]) == (1, 1, 2)


def test_each_mode_runs_on_a_copy_that_starts_as_the_template_and_is_dropped_after(
    admin_url: str,
) -> None:
    name = f"careslot_bench_copy_{os.getpid()}"
    url = asyncio.run(_create(admin_url, name))
    template = BenchDatabase(url, name, len(ROWS), reused=False, seed_seconds=None)
    try:
        with copy_of(template, "on") as copy:
            assert copy.name == f"{name}__on"
            assert copy.url == with_database(url, copy.name)
            assert copy.appointments == len(ROWS)  # counted in the copy
            asyncio.run(_fetch(copy.url, "delete from appointments where doctor_id = 1"))
            assert asyncio.run(_fetch(copy.url, "select count(*) from appointments")) == 4
        assert asyncio.run(_fetch(url, "select count(*) from appointments")) == len(ROWS)
        left = f"select count(*) from pg_database where datname = '{copy.name}'"
        assert asyncio.run(_fetch(admin_url, left)) == 0
    finally:
        asyncio.run(drop(admin_url, name))
