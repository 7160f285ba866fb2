"""dashboard_stats_mv: content, refresh by one worker only, skipped refreshes, staff figures."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import asyncpg
import httpx
import pytest

from careslot.config import Settings
from careslot.dashboard.mv import MvRefresher, cron_schedule
from tests.conftest import LiveServer, Serve

LIVE = ("scheduled", "confirmed", "checked_in")
# Written independently of the migration: what each patient's figures must be at instant $1.
DIRECT = """
select client_id,
       count(*) filter (where starts_at >= $1 and status = any($2)) as upcoming_count,
       count(*) filter (where date_trunc('month', starts_at) = date_trunc('month', $1::timestamptz))
         as total_month_count,
       count(*) filter (where status = 'completed') as completed_count,
       min(starts_at) filter (where starts_at >= $1 and status = any($2))
         as next_appointment_date,
       count(*) filter (where status = 'cancelled') as cancelled_count,
       count(*) filter (where status = 'no_show') as no_show_count,
       count(*) as total_count
from appointments group by client_id order by client_id
"""
COLUMNS = (
    "client_id",
    "upcoming_count",
    "total_month_count",
    "completed_count",
    "next_appointment_date",
    "cancelled_count",
    "no_show_count",
    "total_count",
)


async def _add_varied_appointments(conn: asyncpg.Connection) -> None:
    """Appointments in every status over 80 days around today, for three new patients, at
    02:00 (outside the demo's working hours, so they collide with no demo appointment)."""
    await conn.execute("""
        insert into users (email, password_hash, name, role)
        select 'mv' || n || '@test.careslot', 'x', 'MV ' || n, 'patient'
        from generate_series(1, 3) n
    """)
    await conn.execute("""
        insert into appointments (client_id, doctor_id, department_id, starts_at, ends_at, status)
        select u.id, d.id, d.department_id, t.starts, t.starts + interval '20 minutes', t.status
        from (select id, row_number() over (order by id) as n from users
              where email like 'mv%@test.careslot') u
        cross join lateral (
          select date_trunc('day', now()) + k * interval '1 day' + interval '2 hours'
                   + u.n * interval '25 minutes' as starts,
                 (array['scheduled','confirmed','checked_in','completed','cancelled','no_show'])
                   [1 + ((k + u.n) % 6 + 6) % 6] as status
          from generate_series(-40, 40) k) t
        cross join lateral (select id, department_id from doctors order by id
                            offset u.n limit 1) d
    """)


async def _refresh_with(url: str, settings: Settings) -> MvRefresher:
    refresher = MvRefresher(url, settings)
    await refresher.tick()
    return refresher


async def test_mv_matches_a_direct_query(database_url: str, settings: Settings) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"timezone": settings.timezone})
    try:
        await _add_varied_appointments(conn)
        refresher = await _refresh_with(
            database_url, settings.model_copy(update={"mv_refresh_seconds": 0.01})
        )
        await refresher.stop()
        assert refresher.refreshes == 1
        rows = await conn.fetch(
            f"select {', '.join(COLUMNS)}, refreshed_at "
            "from dashboard_stats_mv where client_id <> 0 order by client_id"
        )
        refreshed_at = await conn.fetchval(
            "select refreshed_at from dashboard_stats_mv where client_id = 0"
        )
        direct = await conn.fetch(DIRECT, refreshed_at, list(LIVE))
        total = await conn.fetchrow("select * from dashboard_stats_mv where client_id = 0")
        with_upcoming = await conn.fetchval(
            "select count(distinct client_id) from appointments "
            "where starts_at >= $1 and status = any($2)",
            refreshed_at,
            list(LIVE),
        )
    finally:
        await conn.close()
    assert len(direct) >= 3
    assert [tuple(r[c] for c in COLUMNS) for r in rows] == [tuple(r) for r in direct]
    assert {r["refreshed_at"] for r in rows} == {None}  # only the hospital row is stamped
    assert refreshed_at is not None
    for column in ("upcoming_count", "total_month_count", "completed_count", "total_count"):
        assert total[column] == sum(r[column] for r in direct)
    assert total["patients_with_upcoming"] == with_upcoming
    assert total["next_appointment_date"] == min(
        r["next_appointment_date"] for r in direct if r["next_appointment_date"] is not None
    )


async def test_only_one_worker_refreshes(database_url: str, settings: Settings) -> None:
    fast = settings.model_copy(update={"mv_refresh_seconds": 0.2})
    first, second = MvRefresher(database_url, fast), MvRefresher(database_url, fast)
    first.start()
    second.start()
    try:
        deadline = time.monotonic() + 30
        while first.refreshes + second.refreshes < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert first.leader != second.leader
        leader, follower = (first, second) if first.leader else (second, first)
        assert leader.refreshes >= 5
        assert follower.refreshes == 0
        # The leader goes away (its connection, hence its lock, ends): the other takes over.
        await leader.stop()
        deadline = time.monotonic() + 30
        while follower.refreshes == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert follower.leader
        assert follower.refreshes >= 1
    finally:
        await first.stop()
        await second.stop()


async def test_a_refresh_still_running_makes_the_next_skip(
    database_url: str, settings: Settings
) -> None:
    refresher = MvRefresher(database_url, settings.model_copy(update={"mv_refresh_seconds": 0.01}))
    blocker = await asyncpg.connect(database_url)
    try:
        # Another session's refresh, still running (its transaction is open): ours gives up
        # after lock_timeout instead of queueing behind it.
        async with blocker.transaction():
            await blocker.execute("refresh materialized view concurrently dashboard_stats_mv")
            await refresher.tick()
            assert refresher.leader
            assert refresher.refreshes == 0
        await refresher.tick()
        assert refresher.refreshes == 1
    finally:
        await refresher.stop()
        await blocker.close()


@pytest.fixture
def refreshing_live(serve: Serve) -> LiveServer:
    return serve(mv_refresh_seconds=0.2)


def test_hospital_stats_for_staff_only(refreshing_live: LiveServer) -> None:
    live = refreshing_live
    patient, staff = live.login("patient@demo.careslot"), live.login("staff@demo.careslot")
    with live.client(patient) as c:
        assert c.get("/api/stats/hospital").status_code == 403
    assert httpx.get(f"{live.url}/api/stats/hospital").status_code == 401
    with live.client(staff) as c:
        before = c.get("/api/stats/hospital")
        assert before.status_code == 200
        assert "public" not in before.headers["cache-control"]
        data = before.json()["data"]
        assert data["asOf"] is not None
        for key in (
            "patientsWithUpcoming",
            "upcomingCount",
            "totalMonthCount",
            "completedCount",
            "totalCount",
            "nextAppointmentDate",
        ):
            assert key in data
        # A new booking shows up in the hospital figures after the next refresh.
        doctor = c.get("/api/doctors").json()[0]["id"]
        slot = c.get(
            "/api/slots", params={"doctorId": doctor, "from": _day(8), "to": _day(20)}
        ).json()["slots"][0]
        patient_id = c.get("/api/appointments", params={"limit": 1}).json()["items"][0]["clientId"]
        booked = c.post(
            "/api/appointments",
            json={"doctorId": doctor, "start": slot["start"], "clientId": patient_id},
        )
        assert booked.status_code == 201, booked.text
        deadline = time.monotonic() + 30
        after = data
        while after["totalCount"] == data["totalCount"] and time.monotonic() < deadline:
            time.sleep(0.1)
            after = c.get("/api/stats/hospital").json()["data"]
    assert after["totalCount"] == data["totalCount"] + 1
    assert after["upcomingCount"] == data["upcomingCount"] + 1
    assert after["asOf"] > data["asOf"]


def _day(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("seconds", "schedule"),
    [
        (30, "30 seconds"),
        (0.4, "1 seconds"),
        (59, "59 seconds"),
        (60, "*/1 * * * *"),
        (300, "*/5 * * * *"),
    ],
)
def test_pg_cron_schedule(seconds: float, schedule: str) -> None:
    assert cron_schedule(seconds) == schedule


async def test_without_pg_cron_the_app_refreshes(database_url: str, settings: Settings) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        installed = await conn.fetchval(
            "select exists (select 1 from pg_extension where extname = 'pg_cron')"
        )
    finally:
        await conn.close()
    refresher = MvRefresher(database_url, settings.model_copy(update={"mv_refresh_seconds": 0.01}))
    try:
        await refresher.tick()
    finally:
        await refresher.stop()
    assert refresher.mode == ("pg_cron" if installed else "app")
    assert refresher.refreshes == (0 if installed else 1)
