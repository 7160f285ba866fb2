"""`iso_utc`, which writes the timestamps of the appointment answers built in SQL, writes
them as Python's isoformat() does (the API's own answers), and is inlined into the queries
that call it (a function call per timestamp cost 32 µs of a booking)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import asyncpg

from tests.db.plans import plan_of

EDGES = [
    dt.datetime(2026, 12, 9, 10, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 9, 10, 0, 0, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 9, 10, 0, 0, 100_000, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 9, 23, 59, 59, 999_999, tzinfo=dt.UTC),
    dt.datetime(2027, 3, 14, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(
        2026, 10, 25, 1, 30, 15, 250, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
    ),
    dt.datetime(2000, 2, 29, 0, 0, tzinfo=dt.UTC),
]


def _samples() -> list[dt.datetime]:
    rng = random.Random(14)
    start = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
    found = []
    for _ in range(2000):
        moment = start + dt.timedelta(seconds=rng.randrange(80 * 365 * 86400))
        if rng.random() < 0.5:
            moment = moment.replace(microsecond=rng.randrange(1_000_000))
        found.append(moment)
    return EDGES + found


async def _written(database_url: str, moments: list[dt.datetime]) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("set timezone = 'America/New_York'")  # not the answer's zone
        rows = await conn.fetch(
            "select iso_utc(t) from unnest($1::timestamptz[]) with ordinality as m(t, n)"
            " order by n",
            moments,
        )
        return [r[0] for r in rows]
    finally:
        await conn.close()


def test_iso_utc_writes_what_isoformat_writes(database_url: str) -> None:
    moments = _samples()
    written = asyncio.run(_written(database_url, moments))
    assert written == [m.astimezone(dt.UTC).isoformat() for m in moments]


def test_iso_utc_is_inlined(database_url: str) -> None:
    plan = plan_of(database_url, "select iso_utc(now())", options="verbose, costs off")
    assert "to_char" in plan, plan
    assert "iso_utc" not in plan, plan
