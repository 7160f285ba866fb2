"""`careslot seed`: the bulk loader against a real PostgreSQL, then used over real HTTP."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console

from careslot import clock
from careslot.config import Settings
from careslot.scheduling.slots import WorkingWindow, day_slots
from careslot.seeding.bulk import SEED_PASSWORD, SeedSummary, run_bulk_seed
from careslot.seeding.synthetic import MAX_FUTURE_PER_PATIENT
from tests.conftest import LiveServer, serve_in_thread

ZONE = "America/New_York"  # daylight saving twice a year inside the seeded two years


def seed(
    url: str,
    *,
    appointments: int,
    patients: int | None = None,
    doctors: int | None = None,
    seed_value: int = 7,
) -> tuple[SeedSummary, str]:
    out = io.StringIO()
    summary = run_bulk_seed(
        url,
        Settings(database_url=url, redis_url=None, timezone=ZONE),
        appointments=appointments,
        patients=patients,
        doctors=doctors,
        seed=seed_value,
        console=Console(file=out, width=200),
    )
    return summary, out.getvalue()


async def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    return asyncio.run(query(url, sql, *args))


OVERLAPS = """select count(*) from appointments a join appointments b
    on a.{col} = b.{col} and a.id < b.id
   and tstzrange(a.starts_at, a.ends_at, '[)') && tstzrange(b.starts_at, b.ends_at, '[)')
 where a.status <> 'cancelled' and b.status <> 'cancelled'"""


def test_seed_loads_a_consistent_hospital(database_url: str) -> None:
    before = fetch(
        database_url,
        "select (select count(*) from appointments) a, "
        "(select count(*) from doctors) d, "
        "(select count(*) from users) u",
    )[0]
    constraints_before = fetch(
        database_url,
        "select conname, pg_get_constraintdef(oid) "
        "from pg_constraint where conrelid = 'appointments'::regclass "
        "order by 1",
    )
    started = datetime.now(UTC)
    summary, output = seed(database_url, appointments=20_000)
    finished = datetime.now(UTC)

    assert summary.appointments == 20_000
    assert summary.doctors == 12
    assert summary.patients == 2_000
    assert f"password: {SEED_PASSWORD}" in output
    after = fetch(
        database_url,
        "select (select count(*) from appointments) a, "
        "(select count(*) from doctors) d, "
        "(select count(*) from users where email like "
        "'patient%@seed.careslot') u, "
        "(select count(*) from activity) act",
    )[0]
    assert after["a"] == before["a"] + 20_000
    assert after["d"] == before["d"] + 12
    assert after["u"] == 2_000
    assert after["act"] > 1_000

    # The indexes and constraints were rebuilt exactly as the migrations made them.
    constraints_after = fetch(
        database_url,
        "select conname, pg_get_constraintdef(oid) "
        "from pg_constraint where conrelid = 'appointments'::regclass "
        "order by 1",
    )
    assert constraints_after == constraints_before
    assert fetch(
        database_url,
        "select bool_and(convalidated) ok from pg_constraint "
        "where conrelid = 'appointments'::regclass",
    )[0]["ok"]
    for col in ("doctor_id", "client_id"):
        assert fetch(database_url, OVERLAPS.format(col=col))[0]["count"] == 0

    _assert_statuses(database_url, started, finished)
    _assert_on_slots_and_room_to_book(database_url)


def _assert_statuses(url: str, started: datetime, finished: datetime) -> None:
    """Past and future as the seeder saw them. Its "now" lies somewhere between `started`
    and `finished`, so an appointment starting between the two is left out (a run across a
    slot's start would otherwise find a future status in the past)."""
    rows = fetch(
        url,
        """select starts_at < $1 as past, status, count(*) n from appointments
                         where client_id in (select id from users where email like
                                             'patient%@seed.careslot')
                           and not (starts_at >= $1 and starts_at < $2)
                         group by 1, 2""",
        started,
        finished,
    )
    by = {(r["past"], r["status"]): r["n"] for r in rows}
    past = {s: n for (p, s), n in by.items() if p}
    future = {s: n for (p, s), n in by.items() if not p}
    assert set(past) <= {"completed", "no_show", "cancelled", "checked_in"}
    assert set(future) <= {"scheduled", "confirmed", "cancelled"}
    assert 0.75 < past["completed"] / sum(past.values()) < 0.92
    assert past["no_show"] > 0
    assert past["cancelled"] > 0
    assert future["scheduled"] > future["confirmed"] > future["cancelled"] > 0


def _assert_on_slots_and_room_to_book(url: str) -> None:
    zone = Settings(timezone=ZONE).zone
    hours = defaultdict(list)
    for r in fetch(url, "select doctor_id, weekday, start_time, end_time from working_hours"):
        hours[r["doctor_id"]].append(WorkingWindow(r["weekday"], r["start_time"], r["end_time"]))
    minutes = {
        r["id"]: r["slot_minutes"] for r in fetch(url, "select id, slot_minutes from doctors")
    }
    seeded = fetch(
        url,
        """select a.doctor_id, a.starts_at, a.ends_at from appointments a
                           join users u on u.id = a.client_id
                           where u.email like 'patient%@seed.careslot'""",
    )
    cache: dict[tuple[int, Any], set[tuple[datetime, datetime]]] = {}
    for r in seeded:
        day = r["starts_at"].astimezone(zone).date()
        key = (r["doctor_id"], day)
        if key not in cache:
            cache[key] = {
                (s.start, s.end)
                for s in day_slots(day, hours[r["doctor_id"]], minutes[r["doctor_id"]], zone)
            }
        assert (r["starts_at"], r["ends_at"]) in cache[key], r

    busiest = fetch(  # "future" as the seeder saw it: careslot's clock, not the database's
        url,
        """select max(n) m from (select client_id, count(*) n from appointments
                            where starts_at > $1 and status <> 'cancelled'
                            group by client_id) x""",
        clock.SystemClock().now(),
    )[0]["m"]
    assert busiest <= MAX_FUTURE_PER_PATIENT
    # Plenty of free future slots: no doctor's next 90 days are more than about half full.
    today = clock.today(zone, clock.SystemClock().now())
    for doctor_id in {r["doctor_id"] for r in seeded}:
        slots = sum(
            len(day_slots(today + timedelta(days=i), hours[doctor_id], minutes[doctor_id], zone))
            for i in range(1, 91)
        )
        taken = fetch(
            url,
            """select count(*) from appointments where doctor_id = $1
                              and starts_at >= $2 and starts_at < $3
                              and status <> 'cancelled'""",
            doctor_id,
            clock.day_start(today + timedelta(days=1), zone),
            clock.day_start(today + timedelta(days=91), zone),
        )[0]["count"]
        assert 0 < taken <= 0.5 * slots


def test_seeded_patient_signs_in_and_books_a_free_slot(database_url: str) -> None:
    seed(database_url, appointments=20_000)
    settings = Settings(database_url=database_url, redis_url=None, timezone=ZONE)
    server = serve_in_thread(settings)
    live = next(server)
    try:
        _book_as_seeded_patient(database_url, live)
    finally:
        next(server, None)


def _book_as_seeded_patient(database_url: str, live: LiveServer) -> None:
    patient = fetch(
        database_url,
        """select u.email, a.doctor_id from users u
                                     join appointments a on a.client_id = u.id
                                     where u.email like 'patient%@seed.careslot'
                                     order by u.id limit 1""",
    )[0]
    token = live.login(patient["email"], SEED_PASSWORD)
    with live.client(token) as c:
        day = (datetime.now(UTC) + timedelta(days=14)).date()
        while day.isoweekday() > 5:
            day += timedelta(days=1)
        slots = c.get(
            "/api/slots", params={"doctorId": patient["doctor_id"], "date": day.isoformat()}
        ).json()["slots"]
        assert slots, "a seeded doctor two weeks ahead has free slots"
        r = c.post(
            "/api/appointments", json={"doctorId": patient["doctor_id"], "start": slots[0]["start"]}
        )
        assert r.status_code == 201, r.text
        again = c.get(
            "/api/slots", params={"doctorId": patient["doctor_id"], "date": day.isoformat()}
        ).json()["slots"]
        assert slots[0]["start"] not in {s["start"] for s in again}


def test_seed_is_rerunnable_and_appends(database_url: str) -> None:
    first, _ = seed(database_url, appointments=6_000, seed_value=1)
    second, output = seed(
        database_url, appointments=1_000, patients=500, doctors=12, seed_value=1
    )  # small next to what is there: indexes kept
    assert second.appointments == 1_000
    assert "patient601@seed.careslot" in output
    counts = fetch(
        database_url,
        """select count(*) n, count(distinct lower(email)) d
                                    from users where email like 'patient%@seed.careslot'""",
    )[0]
    assert counts["n"] == 600 + 500
    assert counts["d"] == counts["n"]
    for col in ("doctor_id", "client_id"):
        assert fetch(database_url, OVERLAPS.format(col=col))[0]["count"] == 0
    assert (
        fetch(database_url, "select count(*) from departments where name = 'Cardiology'")[0][
            "count"
        ]
        == 1
    )
    assert first.first_patient_email == "patient1@seed.careslot"
    # Each run's loaders describe only the appointments they loaded themselves: the second
    # run adds activity for its own bookings and none again for the first run's.
    trail = fetch(
        database_url,
        """select count(*) n, count(distinct (appointment_id, kind)) d,
                                          count(*) filter (where a.id is null) orphans
                                   from activity t left join appointments a
                                     on a.id = t.appointment_id and a.client_id = t.client_id
                                  where t.client_id in (select id from users
                                                        where email like '%@seed.careslot')
                                  """,
    )[0]
    assert trail["n"] == first.activity + second.activity
    assert trail["d"] == trail["n"]
    assert trail["orphans"] == 0
    assert second.activity > 0


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "200"}
    careslot = str(Path(sys.executable).with_name("careslot"))
    return subprocess.run(  # noqa: S603 - our own command line
        [careslot, "seed", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def test_cli_seed(database_url: str) -> None:
    run = _cli(database_url, "--appointments", "5000")
    assert run.returncode == 0, run.stderr
    assert "Loaded 5,000 appointments" in run.stdout
    assert (
        fetch(
            database_url,
            "select count(*) from appointments a join users u "
            "on u.id = a.client_id where u.email like '%@seed.careslot'",
        )[0]["count"]
        == 5000
    )


def test_cli_refuses_an_impossible_request(database_url: str) -> None:
    run = _cli(database_url, "--appointments", "100", "--patients", "3", "--doctors", "5")
    assert run.returncode == 2
    assert "must be at least --doctors" in run.stdout
    assert (
        fetch(database_url, "select count(*) from users where email like '%@seed.careslot'")[0][
            "count"
        ]
        == 0
    )
