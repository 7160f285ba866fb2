"""The personal calendar feed: a secret URL that rotates, private and never stored, with
only the owner's live appointments and no clinical content."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import icalendar

from tests.api.helpers import assert_problem, book, demo_doctor_id, free_slots, register
from tests.conftest import LiveServer


def _feed_token(live: LiveServer, token: str) -> str:
    with live.client(token) as c:
        r = c.post("/api/users/calendar-token")
    assert r.status_code == 200, r.text
    url = urlsplit(r.json()["url"])
    assert url.path == "/api/calendar.ics"
    return parse_qs(url.query)["token"][0]


def test_the_feed_shows_own_live_appointments_and_rotates(live: LiveServer) -> None:
    _, token = register(live)
    _, other = register(live)
    doctor_id = demo_doctor_id(live)
    slots = free_slots(live, doctor_id, days_ahead=3)
    with live.client(token) as c:
        kept = book(c, doctor_id, slots[0]["start"], reason="Private matter").json()["id"]
        dropped = book(c, doctor_id, slots[2]["start"]).json()["id"]
        assert c.patch(f"/api/appointments/{dropped}", json={"status": "cancelled"}).is_success
    with live.client(other) as c:
        theirs = book(c, doctor_id, slots[4]["start"]).json()["id"]

    secret = _feed_token(live, token)
    with live.client() as anonymous:
        r = anonymous.get("/api/calendar.ics", params={"token": secret})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert r.headers["cache-control"] == "private, no-store"
    assert "Private matter" not in r.text
    calendar = icalendar.Calendar.from_ical(r.content)
    uids = {str(e["UID"]) for e in calendar.walk("VEVENT")}
    assert uids == {f"appointment-{kept}@careslot"}
    assert f"appointment-{theirs}@careslot" not in uids

    newer = _feed_token(live, token)
    with live.client() as anonymous:
        assert_problem(anonymous.get("/api/calendar.ics", params={"token": secret}), 404)
        assert anonymous.get("/api/calendar.ics", params={"token": newer}).status_code == 200
        assert_problem(anonymous.get("/api/calendar.ics", params={"token": "guess"}), 404)
        assert anonymous.get("/api/calendar.ics").status_code == 422


def test_a_doctor_gets_their_own_feed_and_staff_none(live: LiveServer) -> None:
    _, token = register(live)
    doctor_id = demo_doctor_id(live)  # the demo doctor account's own schedule
    slot = free_slots(live, doctor_id, days_ahead=3)[0]
    with live.client(token) as c:
        booked = book(c, doctor_id, slot["start"]).json()["id"]
    secret = _feed_token(live, live.login("doctor@demo.careslot"))
    with live.client() as anonymous:
        r = anonymous.get("/api/calendar.ics", params={"token": secret})
    uids = {str(e["UID"]) for e in icalendar.Calendar.from_ical(r.content).walk("VEVENT")}
    assert f"appointment-{booked}@careslot" in uids
    with live.client(live.login("staff@demo.careslot")) as staff:
        assert_problem(staff.post("/api/users/calendar-token"), 403, "forbidden")
