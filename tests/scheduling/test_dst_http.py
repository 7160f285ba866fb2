"""Slots and bookings over HTTP on New York's next daylight-saving days: both the next spring
change (an hour that never shows) and the next autumn change (an hour shown twice), whatever
the date the suite runs on."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api.helpers import assert_problem, book, demo_doctor_id, register, scalar
from tests.conftest import LiveServer, Serve

NY = ZoneInfo("America/New_York")
UTC = dt.UTC


def next_changes(zone: ZoneInfo) -> dict[str, dt.date]:
    """The next day on which the zone's offset grows ("spring") and the next on which it
    shrinks ("autumn"); for New York, Sundays in March and November."""
    found: dict[str, dt.date] = {}
    day = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    while len(found) < 2:
        start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        after = (start.astimezone(UTC) + dt.timedelta(days=1)).astimezone(zone)
        before, later = start.utcoffset(), after.utcoffset()
        assert before is not None
        assert later is not None
        if later > before:
            found.setdefault("spring", day)
        elif later < before:
            found.setdefault("autumn", day)
        day += dt.timedelta(days=1)
    return found


CHANGES = next_changes(NY)


@pytest.fixture(params=["spring", "autumn"])
def change(request: pytest.FixtureRequest) -> dt.date:
    day: dt.date = CHANGES[request.param]
    return day


@pytest.fixture
def new_york(serve: Serve, change: dt.date) -> LiveServer:
    # The horizon must reach the change (up to a year ahead).
    horizon = (change - dt.datetime.now(NY).date()).days + 3
    return serve(timezone="America/New_York", horizon_days=max(90, horizon))


def _night_shift(live: LiveServer, change: dt.date) -> int:
    """A doctor working 00:00-04:00 on the change's weekday (30-minute slots), set through
    the schedule API, so the cache (on here, warmed at start) hears of it as of any change."""
    doctor_id = demo_doctor_id(live)
    _slots(live, doctor_id, change)  # the day's old answer is cached now
    _set_hours(live, doctor_id, change.isoweekday(), "00:00", "04:00")
    assert scalar(live, "select slot_minutes from doctors where id = $1", doctor_id) == 30
    return doctor_id


def _set_hours(live: LiveServer, doctor_id: int, weekday: int, start: str, end: str) -> None:
    """The doctor's hours on `weekday` become start-end (the rest of the week stays)."""
    admin = live.login("admin@demo.careslot")
    with live.client(admin) as c:
        current = c.get(f"/api/doctors/{doctor_id}/working-hours")
        assert current.status_code == 200, current.text
        windows = [
            {"weekday": w["weekday"], "start": w["start"], "end": w["end"]}
            for w in current.json()["items"]
            if w["weekday"] != weekday
        ]
        windows.append({"weekday": weekday, "start": start, "end": end})
        replaced = c.put(f"/api/doctors/{doctor_id}/working-hours", json={"items": windows})
        assert replaced.status_code == 200, replaced.text


def _slots(live: LiveServer, doctor_id: int, change: dt.date) -> list[dict[str, Any]]:
    with live.client() as c:
        r = c.get("/api/slots", params={"doctorId": doctor_id, "date": change.isoformat()})
    assert r.status_code == 200, r.text
    slots: list[dict[str, Any]] = r.json()["slots"]
    return slots


def test_slots_on_the_change_day(new_york: LiveServer, change: dt.date) -> None:
    doctor_id = _night_shift(new_york, change)
    slots = _slots(new_york, doctor_id, change)
    starts = [dt.datetime.fromisoformat(s["start"]) for s in slots]
    ends = [dt.datetime.fromisoformat(s["end"]) for s in slots]
    midnight = dt.datetime.combine(change, dt.time(0), tzinfo=NY)
    four = dt.datetime.combine(change, dt.time(4), tzinfo=NY)
    real_hours = (four.astimezone(UTC) - midnight.astimezone(UTC)) / dt.timedelta(hours=1)
    # Spring forward loses an hour, fall back gains one.
    assert real_hours == (3 if change == CHANGES["spring"] else 5)
    assert len(slots) == real_hours * 2
    assert starts == sorted(set(starts))
    assert all(e - s == dt.timedelta(minutes=30) for s, e in zip(starts, ends, strict=True))
    assert all(a <= b for a, b in zip(ends, starts[1:], strict=False))
    walls = [s.astimezone(NY).strftime("%H:%M") for s in starts]
    if real_hours == 3:
        assert walls == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30"]
    else:
        assert walls == [
            "00:00",
            "00:30",
            "01:00",
            "01:30",
            "01:00",
            "01:30",
            "02:00",
            "02:30",
            "03:00",
            "03:30",
        ]


def test_booking_across_the_change(new_york: LiveServer, change: dt.date) -> None:
    doctor_id = _night_shift(new_york, change)
    slots = _slots(new_york, doctor_id, change)
    _, token = register(new_york)
    with new_york.client(token) as c:
        # Each slot can be booked by the instant it names, in any offset.
        for slot in slots[3:6]:
            start = dt.datetime.fromisoformat(slot["start"])
            r = book(c, doctor_id, start.astimezone(NY).isoformat())
            assert r.status_code == 201, r.text
            assert dt.datetime.fromisoformat(r.json()["start"]) == start
        # A wall time that never showed (or a time between slots) is no slot.
        if change == CHANGES["spring"]:
            ghost = dt.datetime.combine(change, dt.time(2, 30)).replace(
                tzinfo=dt.timezone(dt.timedelta(hours=-5))
            ) + dt.timedelta(minutes=15)
            assert_problem(book(c, doctor_id, ghost.isoformat()), 422, "invalid_slot")
        first = dt.datetime.fromisoformat(slots[0]["start"])
        assert_problem(
            book(c, doctor_id, (first + dt.timedelta(minutes=10)).isoformat()), 422, "invalid_slot"
        )
    left = [s["start"] for s in _slots(new_york, doctor_id, change)]
    assert left == [s["start"] for s in slots[:3] + slots[6:]]
    assert (
        scalar(
            new_york,
            "select count(*) from appointments where doctor_id = $1 "
            "and starts_at::date between $2 and $3",
            doctor_id,
            change - dt.timedelta(days=1),
            change + dt.timedelta(days=1),
        )
        == 3
    )


def test_calendar_months_follow_the_hospital_zone(new_york: LiveServer) -> None:
    """23:00 in New York on the last day of a month is already the next month in UTC. The
    appointment is booked through the API: the doctor works 23:00-23:30 that weekday, and the
    clock stands at 21:00 that day (whenever the suite runs, the slot is ahead)."""
    today = new_york.clock.now().astimezone(NY).date()
    first_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    last = first_next - dt.timedelta(days=1)
    late = dt.datetime.combine(last, dt.time(23, 0), tzinfo=NY)
    assert late.astimezone(UTC).month == first_next.month
    new_york.clock.set(late - dt.timedelta(hours=2))  # still `today`'s month
    _, token = register(new_york)
    doctor_id = demo_doctor_id(new_york)
    with new_york.client(token) as c:
        c.get("/api/calendar", params={"month": first_next.strftime("%Y-%m")})  # cached empty
    _set_hours(new_york, doctor_id, last.isoweekday(), "23:00", "23:30")
    with new_york.client(token) as c:
        r = book(c, doctor_id, late.isoformat())
        assert r.status_code == 201, r.text
        this = c.get("/api/calendar", params={"month": today.strftime("%Y-%m")}).json()
        following = c.get("/api/calendar", params={"month": first_next.strftime("%Y-%m")})
        default = c.get("/api/calendar").json()
    assert [item["id"] for item in this["items"]] == [r.json()["id"]]
    assert following.json()["items"] == []
    assert default["month"] == today.strftime("%Y-%m")
    assert default["items"] == this["items"]
