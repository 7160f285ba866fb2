"""Reminders: due by the clock (moved, never slept for), skipped when already past at
booking, replaced by a move, dropped by a cancellation, off for patients who say so, and
right across a daylight-saving change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from careslot.config import Settings
from tests.api.helpers import book, demo_doctor_id, free_slots, instant, query, register, scalar
from tests.conftest import LiveServer, serve_in_thread
from tests.messages.conftest import MailSink, drain


def _outbox(live: LiveServer, appointment_id: int) -> list[tuple[str, str, dt.datetime]]:
    return [
        (r["template"], r["status"], r["due_at"])
        for r in query(
            live,
            "select template, status, due_at from outbox where appointment_id = $1 "
            "and channel = 'email' order by id",
            appointment_id,
        )
    ]


def _book(live: LiveServer, token: str, start: str) -> int:
    with live.client(token) as c:
        r = book(c, demo_doctor_id(live), start)
    assert r.status_code == 201, r.text
    appointment_id: int = r.json()["id"]
    return appointment_id


def test_reminders_go_when_due_and_once(quiet_live: LiveServer, sink: MailSink) -> None:
    _, token = register(quiet_live)
    slot = free_slots(quiet_live, demo_doctor_id(quiet_live), days_ahead=5)[0]
    start = instant(slot["start"])
    appointment_id = _book(quiet_live, token, slot["start"])
    settings = quiet_live.settings

    assert drain(settings, quiet_live.clock.now) == 1  # the booking notice only
    assert sink.messages[0]["Subject"].startswith("Your appointment")

    quiet_live.clock.set(start - dt.timedelta(hours=48, seconds=1))
    assert drain(settings, quiet_live.clock.now) == 0
    quiet_live.clock.set(start - dt.timedelta(hours=48))
    assert drain(settings, quiet_live.clock.now) == 1
    assert drain(settings, quiet_live.clock.now) == 0  # sent once
    quiet_live.clock.set(start - dt.timedelta(hours=1, minutes=59))
    assert drain(settings, quiet_live.clock.now) == 1

    subjects = [m["Subject"] for m in sink.messages]
    assert len(subjects) == 3
    assert all(s.startswith("Reminder:") for s in subjects[1:])
    assert [(t, s) for t, s, _ in _outbox(quiet_live, appointment_id)] == [
        ("booked", "sent"),
        ("reminder", "sent"),
        ("reminder", "sent"),
    ]


def test_past_reminders_are_skipped_moves_replace_and_cancels_drop(
    quiet_live: LiveServer, sink: MailSink
) -> None:
    doctor_id = demo_doctor_id(quiet_live)
    soon = free_slots(quiet_live, doctor_id, days_ahead=1)[0]
    # A day before it (whatever the day the suite runs on, there is such a slot): its 48 h
    # reminder is already past at booking, its 2 h one is not.
    quiet_live.clock.set(instant(soon["start"]) - dt.timedelta(hours=24))
    _, token = register(quiet_live)
    appointment_id = _book(quiet_live, token, soon["start"])
    rows = _outbox(quiet_live, appointment_id)
    assert [(t, s) for t, s, _ in rows] == [
        ("booked", "pending"),
        ("reminder", "skipped"),  # 48 h before: already past at booking
        ("reminder", "pending"),
    ]
    later = free_slots(quiet_live, doctor_id, days_ahead=6)[0]
    with quiet_live.client(token) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"start": later["start"]})
        assert r.status_code == 200, r.text
    rows = _outbox(quiet_live, appointment_id)
    assert [(t, s) for t, s, _ in rows][2:] == [
        ("reminder", "skipped"),  # replaced
        ("rescheduled", "pending"),
        ("reminder", "pending"),
        ("reminder", "pending"),
    ]
    assert {d for t, s, d in rows[-2:]} == {
        instant(later["start"]) - dt.timedelta(hours=h) for h in (48, 2)
    }
    with quiet_live.client(token) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"})
        assert r.status_code == 200, r.text
    quiet_live.clock.set(instant(later["start"]))
    drain(quiet_live.settings, quiet_live.clock.now)
    subjects = [m["Subject"] for m in sink.messages]
    assert len(subjects) == 3
    assert ["is booked" in subjects[0], "has moved" in subjects[1]] == [True, True]
    assert "is cancelled" in subjects[2]
    assert sorted(t for t, s, _ in _outbox(quiet_live, appointment_id) if s == "sent") == [
        "booked",
        "cancelled",
        "rescheduled",
    ]
    assert not any(m["Subject"].startswith("Reminder") for m in sink.messages)


def test_a_patient_who_turns_reminders_off_still_hears_of_changes(
    quiet_live: LiveServer, sink: MailSink
) -> None:
    _, token = register(quiet_live)
    slots = free_slots(quiet_live, demo_doctor_id(quiet_live), days_ahead=5)
    before = _book(quiet_live, token, slots[0]["start"])  # reminders pending
    with quiet_live.client(token) as c:
        assert c.get("/api/users/profile").json()["reminders"] is True
        r = c.patch("/api/users/profile", json={"reminders": False})
        assert r.status_code == 200, r.text
        assert r.json()["reminders"] is False
        assert c.patch("/api/users/profile", json={"reminders": "nope"}).status_code == 422
        assert c.get("/api/users/profile").json()["reminders"] is False  # what was stored
    after = _book(quiet_live, token, slots[4]["start"])
    assert [s for t, s, _ in _outbox(quiet_live, after) if t == "reminder"] == ["skipped"] * 2

    quiet_live.clock.set(instant(slots[4]["start"]) - dt.timedelta(minutes=1))
    drain(quiet_live.settings, quiet_live.clock.now)
    subjects = [m["Subject"] for m in sink.messages]
    assert len(subjects) == 2
    assert all("is booked" in s for s in subjects)
    assert [s for t, s, _ in _outbox(quiet_live, before) if t == "reminder"] == ["skipped"] * 2


LONDON = ZoneInfo("Europe/London")


def _next_change(zone: ZoneInfo) -> dt.datetime:
    """The next instant at which the zone's offset changes (to the hour)."""
    at = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    while (
        at.astimezone(zone).utcoffset() == (at + dt.timedelta(hours=1)).astimezone(zone).utcoffset()
    ):
        at += dt.timedelta(hours=1)
    return at + dt.timedelta(hours=1)


def _monday_nine(change: dt.datetime) -> dt.datetime:
    """09:00 on the first weekday after the change: a demo doctor's first slot."""
    day = (change + dt.timedelta(days=1)).astimezone(LONDON).date()
    while day.isoweekday() > 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(9), tzinfo=LONDON)


@pytest.fixture
def london(database_url: str, sink: MailSink) -> Iterator[LiveServer]:
    change = _next_change(LONDON)
    hours = (_monday_nine(change) - change) // dt.timedelta(hours=1)
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        timezone="Europe/London",
        horizon_days=(change - dt.datetime.now(dt.UTC)).days + 10,
        smtp_url=sink.url,
        outbox_sender=False,
        # Due an hour before the clocks change (in winter time, where wall-clock arithmetic
        # from a summer-time start would be an hour off) and at the very instant they do.
        reminders=f"{hours + 1}h,{hours}h",
    )
    yield from serve_in_thread(settings)


def test_a_reminder_due_at_the_daylight_saving_change(london: LiveServer, sink: MailSink) -> None:
    change = _next_change(LONDON)
    nine = _monday_nine(change)
    day_after = nine.date()
    _, token = register(london)
    with london.client() as c:
        r = c.get(
            "/api/slots",
            params={"doctorId": demo_doctor_id(london), "date": day_after.isoformat()},
        )
    assert r.status_code == 200, r.text
    assert any(instant(s["start"]) == nine for s in r.json()["slots"])
    appointment_id = _book(london, token, nine.isoformat())
    dues = sorted(d for t, _, d in _outbox(london, appointment_id) if t == "reminder")
    # elapsed time before the start, not wall-clock arithmetic
    assert dues == [change - dt.timedelta(hours=1), change]

    def reminders() -> list[str]:
        return [m["Subject"] for m in sink.messages if m["Subject"].startswith("Reminder")]

    drain(london.settings, london.clock.now)  # the booking notice
    for due in dues:
        sent = len(reminders())
        london.clock.set(due - dt.timedelta(seconds=1))
        drain(london.settings, london.clock.now)
        assert len(reminders()) == sent
        london.clock.set(due)
        drain(london.settings, london.clock.now)
        assert len(reminders()) == sent + 1
    london.clock.set(change + dt.timedelta(hours=3))
    drain(london.settings, london.clock.now)
    assert len(reminders()) == 2  # each once
    assert all(f"{day_after.day} {nine:%b %Y} at 09:00" in s for s in reminders())
    body = next(m for m in sink.messages if m["Subject"].startswith("Reminder")).get_body(
        ("plain",)
    )
    assert body is not None
    assert f"{day_after.day} {nine:%B %Y}, 09:00 (Europe/London)" in body.get_content()
    assert scalar(london, "select count(*) from outbox where status = 'pending'") == 0
