"""The booking limit's count reads only live rows (migration 0013): a patient's cancelled
appointments, however many, are never read to count the live ones."""

from __future__ import annotations

import datetime as dt

from tests.db.plans import plan_of

COUNT = """select count(*) from appointments where client_id = $1 and starts_at > $2
           and status in ('scheduled', 'confirmed', 'checked_in')"""


def test_the_booking_limit_counts_through_the_live_rows_index(database_url: str) -> None:
    plan = plan_of(
        database_url,
        COUNT,
        1,
        dt.datetime.now(dt.UTC),
        first="set enable_seqscan = off",  # a tiny test table: ask for an index
    )
    assert "appointments_client_upcoming_idx" in plan, plan
    assert "Filter" not in plan, plan  # no row read only to be thrown away
