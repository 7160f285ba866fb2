"""The bench's double-booking check finds overlaps when the constraints are not there."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from careslot.bench.database import double_bookings, with_database

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


async def _check(admin_url: str) -> dict[str, object]:
    name = f"careslot_bench_check_{os.getpid()}"
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
    finally:
        await conn.close()
    try:
        return await double_bookings(url)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f"drop database if exists {name} with (force)")
        finally:
            await admin.close()


def test_double_booking_check_counts_overlaps_only(admin_url: str) -> None:
    found = asyncio.run(_check(admin_url))
    assert (found["doctor"], found["patient"], found["total"]) == (1, 1, 2)
