"""Every read and change of a patient's records lands in audit_log: who, whose, what, outcome.
Each audited route is called over HTTP (twice for cached reads, so hits are audited as well as
misses) and the whole trail is compared row for row."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import Any

from tests.api.helpers import book, demo_doctor_id, free_slots, query, register, user_id
from tests.conftest import LiveServer

Row = tuple[int | None, int | None, str, str, int | None, str]


def _trail(live: LiveServer, actors: list[int]) -> Counter[Row]:
    rows = query(
        live,
        "select actor_id, subject_id, action, entity, entity_id, outcome from audit_log "
        "where actor_id = any($1::bigint[])",
        actors,
    )
    return Counter(tuple(r) for r in rows)


def _wait_for(live: LiveServer, actors: list[int], expected: Counter[Row]) -> Counter[Row]:
    """Reads are written in batches every half second: wait until as many rows are there as
    expected (or 15 s pass), then hand back what is there."""
    deadline = time.monotonic() + 15
    found = _trail(live, actors)
    while found.total() < expected.total() and time.monotonic() < deadline:
        time.sleep(0.1)
        found = _trail(live, actors)
    time.sleep(0.6)  # one more flush, so a row too many would show too
    return _trail(live, actors)


def test_every_audited_read_and_change_is_in_the_trail(live: LiveServer) -> None:
    patient, token = register(live, name="Audited Patient")
    nosy, nosy_token = register(live, name="Nosy Neighbour")
    staff = user_id(live, "staff@demo.careslot")
    staff_token = live.login("staff@demo.careslot")
    doctor_id = demo_doctor_id(live)
    first, second, later = (s["start"] for s in free_slots(live, doctor_id)[:3])
    month = dt.datetime.fromisoformat(first).astimezone(live.settings.zone).strftime("%Y-%m")
    expected: Counter[Row] = Counter()

    def audited(ok: Any, *row: Any, times: int = 1) -> None:
        assert ok.status_code in (200, 201), ok.text
        expected[tuple(row)] += times  # type: ignore[index]

    with live.client(token) as c:
        kept = book(c, doctor_id, first, reason="kept")
        audited(kept, patient, patient, "create", "appointment", kept.json()["id"], "ok")
        moved = book(c, doctor_id, second, reason="moved then cancelled")
        moved_id = moved.json()["id"]
        audited(moved, patient, patient, "create", "appointment", moved_id, "ok")
        kept_id = kept.json()["id"]
        for _ in range(2):
            r = c.get(f"/api/appointments/{kept_id}")
            audited(r, patient, patient, "read", "appointment", kept_id, "ok")
            r = c.get("/api/appointments")
            audited(r, patient, patient, "read", "appointment_list", None, "ok")
            r = c.get("/api/dashboard/stats")
            audited(r, patient, patient, "read", "dashboard", None, "ok")
            r = c.get("/api/activity")
            audited(r, patient, patient, "read", "activity", None, "ok")
            r = c.get("/api/calendar", params={"month": month})
            audited(r, patient, patient, "read", "calendar", None, "ok")
        r = c.patch(f"/api/appointments/{moved_id}", json={"start": later})
        audited(r, patient, patient, "update:rescheduled", "appointment", moved_id, "ok")
        r = c.patch(f"/api/appointments/{moved_id}", json={"status": "cancelled"})
        audited(r, patient, patient, "update:cancelled", "appointment", moved_id, "ok")

    with live.client(nosy_token) as c:
        assert c.get(f"/api/appointments/{kept_id}").status_code == 404
        expected[(nosy, patient, "read", "appointment", kept_id, "denied")] += 1

    with live.client(staff_token) as c:
        for _ in range(2):
            r = c.get("/api/appointments", params={"clientId": patient})
            audited(r, staff, patient, "read", "appointment_list", None, "ok")
            r = c.get("/api/appointments")
            audited(r, staff, None, "read", "appointment_list", None, "ok")
            r = c.get("/api/dashboard/stats", params={"clientId": patient})
            audited(r, staff, patient, "read", "dashboard", None, "ok")
            r = c.get("/api/activity")
            audited(r, staff, None, "read", "activity", None, "ok")
            r = c.get("/api/calendar", params={"month": month, "doctorId": doctor_id})
            audited(r, staff, None, "read", "calendar", None, "ok")
        r = c.get("/api/appointments/stream")
        audited(r, staff, None, "read", "appointment_stream", None, "ok")
        for status in ("confirmed", "checked_in", "completed"):
            r = c.patch(f"/api/appointments/{kept_id}", json={"status": status})
            audited(r, staff, patient, f"update:{status}", "appointment", kept_id, "ok")
        # The desk lists today's board and the waitlist (staff-wide lists) on every visit.
        r = c.get("/desk", params={"q": "Audited"})
        audited(r, staff, None, "read", "patient_search", None, "ok")
        audited(r, staff, None, "read", "appointment_list", None, "ok")
        audited(r, staff, None, "read", "waitlist", None, "ok")
        assert "Audited Patient" in r.text
        r = c.get("/desk", params={"booked": kept_id})
        audited(r, staff, patient, "read", "appointment", kept_id, "ok")
        audited(r, staff, None, "read", "appointment_list", None, "ok")
        audited(r, staff, None, "read", "waitlist", None, "ok")

    found = _wait_for(live, [patient, nosy, staff], expected)
    assert found == expected, (
        f"missing: {dict(expected - found)}\nunexpected: {dict(found - expected)}"
    )
