"""The cache behind the HTTP API: hits, fresh after every write, headers, access, the off switch."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest

from tests.api.helpers import CACHE_CONTROL, book, demo_doctor_id, free_slots, register, scalar
from tests.conftest import LiveServer, Serve


def cache_outcome(r: httpx.Response) -> str:
    timing = r.headers.get("server-timing", "")
    for part in timing.split(","):
        if part.strip().startswith("cache;"):
            return part.split('desc="', 1)[1].rstrip('"')
    return ""


def test_dashboard_hit_then_fresh_after_booking(live: LiveServer) -> None:
    _patient_id, token = register(live)
    doctor = demo_doctor_id(live)
    slot = free_slots(live, doctor)[0]
    with live.client(token) as c:
        first = c.get("/api/dashboard/stats")
        second = c.get("/api/dashboard/stats")
        assert first.status_code == second.status_code == 200
        assert cache_outcome(first) == "miss userStats"
        assert cache_outcome(second) == "l1 hit userStats"
        assert second.json()["data"]["upcomingCount"] == 0
        assert book(c, doctor, slot["start"]).status_code == 201
        after = c.get("/api/dashboard/stats")
        assert after.json()["data"]["upcomingCount"] == 1
        assert len(after.json()["data"]["recentAppointments"]) == 1
        listed = c.get("/api/appointments").json()["items"]
        assert [a["start"] for a in listed] == [slot["start"]]


def test_slots_fresh_after_booking_and_cancel(live: LiveServer) -> None:
    _, token = register(live)
    doctor = demo_doctor_id(live)
    slot = free_slots(live, doctor)[0]
    day = dt.datetime.fromisoformat(slot["start"]).astimezone(live.settings.zone).date()
    params = {"doctorId": doctor, "date": day.isoformat()}
    with live.client(token) as c:
        c.get("/api/slots", params=params)
        warm = c.get("/api/slots", params=params)
        assert cache_outcome(warm) == "l1 hit availableSlots"
        assert slot["start"] in [s["start"] for s in warm.json()["slots"]]
        booked = book(c, doctor, slot["start"])
        assert booked.status_code == 201
        gone = c.get("/api/slots", params=params).json()["slots"]
        assert slot["start"] not in [s["start"] for s in gone]
        cancel = c.patch(f"/api/appointments/{booked.json()['id']}", json={"status": "cancelled"})
        assert cancel.status_code == 200
        back = c.get("/api/slots", params=params).json()["slots"]
        assert slot["start"] in [s["start"] for s in back]


def a_slot_and_another_day(
    live: LiveServer, doctor: int
) -> tuple[dict[str, Any], dt.date, dt.date]:
    """The doctor's first free slot, its day, and a later day with free slots too."""
    slots = free_slots(live, doctor)
    day_of = {
        s["start"]: dt.datetime.fromisoformat(s["start"]).astimezone(live.settings.zone).date()
        for s in slots
    }
    day = day_of[slots[0]["start"]]
    return slots[0], day, next(d for d in day_of.values() if d > day + dt.timedelta(days=1))


def test_a_booking_keeps_other_days_slot_lists_cached(live: LiveServer) -> None:
    _, token = register(live)
    doctor = demo_doctor_id(live)
    slot, day, other = a_slot_and_another_day(live, doctor)
    lists = {
        "day": {"doctorId": doctor, "date": day.isoformat()},
        "other": {"doctorId": doctor, "date": other.isoformat()},
        "range": {"doctorId": doctor, "from": day.isoformat(), "to": other.isoformat()},
    }
    with live.client(token) as c:
        for params in lists.values():
            c.get("/api/slots", params=params)
            assert cache_outcome(c.get("/api/slots", params=params)).startswith("l1 hit")
        assert book(c, doctor, slot["start"]).status_code == 201
        after = {name: c.get("/api/slots", params=params) for name, params in lists.items()}
    assert cache_outcome(after["other"]) == "l1 hit availableSlots"
    for name in ("day", "range"):
        assert cache_outcome(after[name]) == "miss availableSlots"
        assert slot["start"] not in [s["start"] for s in after[name].json()["slots"]]


def test_a_booking_keeps_the_doctors_schedule_for_other_days_cached(
    live: LiveServer, staff_token: str
) -> None:
    """A doctor's schedule is tagged per day like their slot lists: a booking drops that
    day's schedule and every range, a change of hours drops every day's."""
    _, token = register(live)
    doctor = demo_doctor_id(live)
    slot, day, other = a_slot_and_another_day(live, doctor)
    views = {
        "day": {"from": day.isoformat(), "to": day.isoformat()},
        "other": {"from": other.isoformat(), "to": other.isoformat()},
        "range": {"from": day.isoformat(), "to": other.isoformat()},
    }
    path = f"/api/doctors/{doctor}/schedule"

    def booked(r: httpx.Response) -> bool:
        return slot["start"] in [a["start"] for a in r.json()["appointments"]]

    with live.client(staff_token) as staff:
        for params in views.values():
            staff.get(path, params=params)
            assert cache_outcome(staff.get(path, params=params)) == "l1 hit doctorSchedule"
        with live.client(token) as c:
            assert book(c, doctor, slot["start"]).status_code == 201
        after = {name: staff.get(path, params=params) for name, params in views.items()}
        assert cache_outcome(after["other"]) == "l1 hit doctorSchedule"
        for name in ("day", "range"):
            assert cache_outcome(after[name]) == "miss doctorSchedule"
            assert booked(after[name])
        hours = staff.get(f"/api/doctors/{doctor}/working-hours").json()["items"]
        assert staff.put(f"/api/doctors/{doctor}/working-hours", json={"items": hours}).is_success
        assert cache_outcome(staff.get(path, params=views["other"])) == "miss doctorSchedule"


def test_department_slots_fresh_after_booking_reschedule_and_cancel(live: LiveServer) -> None:
    _, token = register(live)
    doctor = demo_doctor_id(live)
    department = scalar(live, "select department_id from doctors where id = $1", doctor)
    zone = live.settings.zone
    first, second = free_slots(live, doctor)[:2]

    def listed(c: httpx.Client, start: str) -> bool:
        day = dt.datetime.fromisoformat(start).astimezone(zone).date().isoformat()
        r = c.get("/api/slots", params={"departmentId": department, "date": day})
        return any(s["start"] == start and s["doctorId"] == doctor for s in r.json()["slots"])

    with live.client(token) as c:
        assert listed(c, first["start"])  # and now cached
        assert listed(c, second["start"])
        booked = book(c, doctor, first["start"])
        assert booked.status_code == 201
        assert not listed(c, first["start"])
        moved = c.patch(f"/api/appointments/{booked.json()['id']}", json={"start": second["start"]})
        assert moved.status_code == 200, moved.text
        assert listed(c, first["start"])
        assert not listed(c, second["start"])
        # A status move names the department it locked with the row (repo.lock).
        cancelled = c.patch(
            f"/api/appointments/{booked.json()['id']}", json={"status": "cancelled"}
        )
        assert cancelled.status_code == 200, cancelled.text
        assert listed(c, second["start"])


def test_staff_lists_fresh_after_a_patient_books(live: LiveServer, staff_token: str) -> None:
    patient_id, token = register(live)
    doctor = demo_doctor_id(live)
    slot = free_slots(live, doctor)[0]
    month = slot["start"][:7]
    with live.client(staff_token) as staff:
        for _ in range(2):
            before_all = staff.get("/api/appointments", params={"limit": 200}).json()
            before_cal = staff.get(
                "/api/calendar", params={"month": month, "doctorId": doctor}
            ).json()
        with live.client(token) as c:
            assert book(c, doctor, slot["start"]).status_code == 201
        after_all = staff.get("/api/appointments", params={"limit": 200}).json()
        after_cal = staff.get("/api/calendar", params={"month": month, "doctorId": doctor}).json()
        by_client = staff.get("/api/appointments", params={"clientId": patient_id}).json()
    assert len(after_all["items"]) == len(before_all["items"]) + 1
    assert len(after_cal["items"]) == len(before_cal["items"]) + 1
    assert [a["clientId"] for a in by_client["items"]] == [patient_id]


PER_USER = ["/api/dashboard/stats", "/api/activity", "/api/appointments", "/api/calendar"]


def test_per_user_answers_are_never_public(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        for path in PER_USER:
            for _ in range(2):  # the miss and the hit
                r = c.get(path)
                assert r.status_code == 200, (path, r.text)
                assert r.headers["cache-control"] == CACHE_CONTROL[path], path
                assert "cdn-cache-control" not in r.headers
                assert "Authorization" in r.headers.get("vary", ""), path


def test_public_answers_carry_edge_headers(live: LiveServer) -> None:
    doctor = demo_doctor_id(live)
    today = dt.datetime.now(live.settings.zone).date().isoformat()
    with live.client() as c:
        departments = c.get("/api/departments")
        slots = c.get("/api/slots", params={"doctorId": doctor, "date": today})
    assert departments.headers["cache-control"] == (
        "public, s-maxage=3600, stale-while-revalidate=7200"
    )
    assert departments.headers["cdn-cache-control"] == "max-age=3600"
    assert departments.headers["vary"] == "Accept-Encoding"
    assert slots.headers["cache-control"] == "public, s-maxage=5"


def test_etag_and_304_from_the_cache(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        first = c.get("/api/dashboard/stats")
        etag = first.headers["etag"]
        again = c.get("/api/dashboard/stats", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        other = c.get("/api/dashboard/stats", headers={"If-None-Match": '"stale"'})
        assert other.status_code == 200
        assert other.json() == first.json()


def test_cached_answers_keep_access_rules(live: LiveServer, staff_token: str) -> None:
    doctor = demo_doctor_id(live)
    other_doctor = demo_doctor_id(live, "Dr. Lena Fischer")
    patient_id, patient = register(live)
    _, intruder = register(live)
    month = dt.datetime.now(live.settings.zone).date().strftime("%Y-%m")
    with live.client(staff_token) as staff:  # staff prime the caches first
        for _ in range(2):
            assert (
                staff.get("/api/dashboard/stats", params={"clientId": patient_id}).status_code
                == 200
            )
            assert (
                staff.get(
                    "/api/calendar", params={"month": month, "doctorId": other_doctor}
                ).status_code
                == 200
            )
    with live.client(intruder) as c:
        assert c.get("/api/dashboard/stats", params={"clientId": patient_id}).status_code == 403
    with live.client(live.login("doctor@demo.careslot")) as d:
        assert (
            d.get("/api/calendar", params={"month": month, "doctorId": other_doctor}).status_code
            == 403
        )
        own = d.get("/api/calendar", params={"month": month})
        assert own.status_code == 200
        assert own.json()["doctorId"] == doctor
    with live.client(patient) as c:
        assert c.get("/api/dashboard/stats").json()["data"]["upcomingCount"] == 0


@pytest.fixture
def live_off(serve: Serve) -> LiveServer:
    return serve(cache="off")


def test_cache_off_serves_from_postgres(live_off: LiveServer) -> None:
    _, token = register(live_off)
    doctor = demo_doctor_id(live_off)
    slot = free_slots(live_off, doctor)[0]
    with live_off.client(token) as c:
        answers = [c.get("/api/dashboard/stats") for _ in range(2)]
        assert [cache_outcome(r) for r in answers] == ["off userStats"] * 2
        assert all("etag" in r.headers for r in answers)
        assert book(c, doctor, slot["start"]).status_code == 201
        assert c.get("/api/dashboard/stats").json()["data"]["upcomingCount"] == 1
        assert cache_outcome(c.get("/api/departments")) == "off departments"


def test_warming_fills_departments_doctors_and_two_days_of_slots(serve: Serve) -> None:
    def warmed_slots() -> float:
        from careslot.monitoring.metrics import REGISTRY

        return (
            REGISTRY.get_sample_value("careslot_cache_misses_total", {"strategy": "availableSlots"})
            or 0.0
        )

    before = warmed_slots()
    for live in [serve()]:
        with live.client() as c:
            doctors = c.get("/api/doctors").json()
            deadline = time.monotonic() + 60
            while warmed_slots() < before + 2 * len(doctors):  # warming runs in the background
                assert time.monotonic() < deadline, "warming did not finish"
                time.sleep(0.05)
            today = dt.datetime.now(live.settings.zone).date()
            outcomes = {cache_outcome(c.get("/api/departments"))}
            for doctor in doctors:
                for day in (today, today + dt.timedelta(days=1)):
                    r = c.get(
                        "/api/slots", params={"doctorId": doctor["id"], "date": day.isoformat()}
                    )
                    outcomes.add(cache_outcome(r))
        assert outcomes == {"l1 hit departments", "l1 hit availableSlots"}


def test_every_read_is_audited_hit_or_miss(live: LiveServer) -> None:
    patient_id, token = register(live)
    with live.client(token) as c:
        outcomes = [cache_outcome(c.get("/api/dashboard/stats")) for _ in range(3)]
    assert outcomes == ["miss userStats", "l1 hit userStats", "l1 hit userStats"]
    deadline = time.monotonic() + 10
    while True:  # reads are audited in batches every half second
        audited = scalar(
            live,
            "select count(*) from audit_log where subject_id = $1 "
            "and action = 'read' and entity = 'dashboard'",
            patient_id,
        )
        if audited >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert audited == 3
