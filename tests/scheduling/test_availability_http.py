"""What makes a time no slot over HTTP: time off, closures, notice, horizon, other bookings."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.helpers import (
    assert_problem,
    book,
    demo_doctor_id,
    free_slots,
    instant,
    query,
    register,
)
from tests.conftest import LiveServer, Serve


@pytest.fixture
def cached(serve: Serve) -> LiveServer:
    """careslot with the cache on (the default), for schedule changes made through the API."""
    return serve(cache="on")


def _starts(live: LiveServer, doctor_id: int, day: dt.date) -> list[dt.datetime]:
    with live.client() as c:
        r = c.get("/api/slots", params={"doctorId": doctor_id, "date": day.isoformat()})
    assert r.status_code == 200, r.text
    return [instant(s["start"]) for s in r.json()["slots"]]


def test_time_off_and_closures_remove_slots(cached: LiveServer) -> None:
    """Through the schedule API with the cache on: each read below was cached before the
    change, so this also shows that the change dropped it."""
    live = cached
    admin = live.login("admin@demo.careslot")
    doctor_id = demo_doctor_id(live)
    other_id = demo_doctor_id(live, "Dr. Lena Fischer")
    slots = free_slots(live, doctor_id)
    first = instant(slots[0]["start"])
    day = first.date()
    before = _starts(live, doctor_id, day)
    # An hour of time off from the first slot on.
    with live.client(admin) as c:
        # force: live appointments in the way (the demo's, on some days) are cancelled.
        r = c.post(
            f"/api/doctors/{doctor_id}/time-off",
            params={"force": "true"},
            json={
                "start": first.isoformat(),
                "end": (first + dt.timedelta(hours=1)).isoformat(),
                "reason": "training",
            },
        )
    assert r.status_code == 201, r.text
    after = _starts(live, doctor_id, day)
    assert after == [s for s in before if not first <= s < first + dt.timedelta(hours=1)]
    _, token = register(live)
    with live.client(token) as c:
        assert_problem(book(c, doctor_id, slots[0]["start"]), 422, "invalid_slot")
    # A hospital closure takes every doctor's day.
    assert _starts(live, other_id, day)
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=live.settings.zone)
    with live.client(admin) as c:
        r = c.post(
            "/api/closures",
            params={"force": "true"},
            json={
                "start": midnight.isoformat(),
                "end": (midnight + dt.timedelta(days=1)).isoformat(),
                "reason": "holiday",
            },
        )
    assert r.status_code == 201, r.text
    assert _starts(live, doctor_id, day) == []
    assert _starts(live, other_id, day) == []
    with live.client(token) as c:
        other_slot = before[-1].isoformat()
        assert_problem(book(c, doctor_id, other_slot), 422, "invalid_slot")


def _next_weekday_at(live: LiveServer, weekday: int, hour: int) -> dt.datetime:
    """The next `weekday` (1 = Monday) at `hour`:00 in the hospital's zone, at least a day
    ahead, as an instant."""
    day = live.clock.now().astimezone(live.settings.zone).date() + dt.timedelta(days=1)
    while day.isoweekday() != weekday:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=live.settings.zone)


def test_the_first_slot_offered_is_the_first_after_the_notice(live: LiveServer) -> None:
    """With the clock moved to 5 s before (a Tuesday slot S) minus the 60 min notice, the
    first slot offered that day is S, the one before it (inside the notice) is gone and
    booking it is 422, and every later slot is still offered."""
    doctor_id = demo_doctor_id(live, "Dr. Lena Fischer")  # works Monday to Saturday, 09-17
    tuesday = _next_weekday_at(live, 2, 0)
    whole_day = _starts(live, doctor_id, tuesday.date())  # a day ahead: nothing cut yet
    assert len(whole_day) >= 4
    # A slot in the middle of the day whose predecessor is right before it.
    k = next(
        i
        for i in range(len(whole_day) // 2, len(whole_day))
        if whole_day[i] - whole_day[i - 1] < dt.timedelta(minutes=live.settings.min_notice_minutes)
    )
    first, inside = whole_day[k], whole_day[k - 1]
    notice = dt.timedelta(minutes=live.settings.min_notice_minutes)
    live.clock.set(first - notice - dt.timedelta(seconds=5))
    assert live.clock.now() < inside  # the slot before is in the future, inside the notice
    starts = _starts(live, doctor_id, tuesday.date())
    assert starts == whole_day[k:]
    _, token = register(live)
    with live.client(token) as c:
        assert_problem(book(c, doctor_id, inside.isoformat()), 422, "invalid_slot")
        assert book(c, doctor_id, first.isoformat()).status_code == 201


def test_the_horizon(live: LiveServer) -> None:
    doctor_id = demo_doctor_id(live, "Dr. Lena Fischer")  # works Monday to Saturday
    now = live.clock.now()
    today = now.astimezone(live.settings.zone).date()
    far = today + dt.timedelta(days=live.settings.horizon_days + 2)
    assert _starts(live, doctor_id, far) == []
    # The day the horizon ends is cut at the horizon itself.
    edge = now + dt.timedelta(days=live.settings.horizon_days)
    assert all(s <= edge for s in _starts(live, doctor_id, edge.date()))
    _, token = register(live)
    with live.client(token) as c:
        late = dt.datetime.combine(far, dt.time(9), tzinfo=dt.UTC)
        while late.isoweekday() == 7:
            late += dt.timedelta(days=1)
        assert_problem(book(c, doctor_id, late.isoformat()), 422, "invalid_slot")


def test_department_slots_merge_its_doctors(live: LiveServer) -> None:
    department_id = query(live, "select id from departments where name = 'Cardiology'")[0][0]
    doctor_ids = {demo_doctor_id(live), demo_doctor_id(live, "Dr. Lena Fischer")}
    day = instant(free_slots(live, demo_doctor_id(live))[0]["start"]).date()
    with live.client() as c:
        r = c.get("/api/slots", params={"departmentId": department_id, "date": day.isoformat()})
    slots = r.json()["slots"]
    assert {s["doctorId"] for s in slots} == doctor_ids
    keys = [(instant(s["start"]), s["doctorId"]) for s in slots]
    assert keys == sorted(keys)
    assert r.headers["cache-control"] == "public, s-maxage=5"
