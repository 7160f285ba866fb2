"""Forced time off cancels appointments in its own transaction: their patients are mailed a
cancellation (METHOD:CANCEL), and webhooks hear `schedule.changed` and
`appointment.cancelled`."""

from __future__ import annotations

import datetime as dt
import json

import icalendar

from tests.api.helpers import book, demo_doctor_id, free_slots, query, register
from tests.conftest import LiveServer
from tests.messages.conftest import MailSink, drain
from tests.messages.test_webhooks import Receiver, _register, hooks_live, receiver

__all__ = ["hooks_live", "receiver"]  # fixtures shared with the webhook tests


def test_forced_time_off_mails_the_patient_a_cancellation(
    quiet_live: LiveServer, sink: MailSink
) -> None:
    patient_id, token = register(quiet_live)
    address = query(quiet_live, "select email from users where id = $1", patient_id)[0][0]
    doctor_id = demo_doctor_id(quiet_live)
    slot = free_slots(quiet_live, doctor_id, days_ahead=5)[0]
    with quiet_live.client(token) as c:
        appointment_id = book(c, doctor_id, slot["start"]).json()["id"]
    start = dt.datetime.fromisoformat(slot["start"])
    period = {
        "start": (start - dt.timedelta(hours=1)).isoformat(),
        "end": (start + dt.timedelta(hours=2)).isoformat(),
        "reason": "Conference",
    }
    with quiet_live.client(quiet_live.login("staff@demo.careslot")) as staff:
        r = staff.post(f"/api/doctors/{doctor_id}/time-off?force=true", json=period)
    assert r.status_code == 201, r.text
    assert r.json()["cancelled"] == [appointment_id]

    drain(quiet_live.settings, quiet_live.clock.now)
    booked, cancelled = sink.to(address)
    assert "is cancelled" in cancelled["Subject"]
    assert "Conference" not in cancelled.as_string()
    (part,) = [p for p in cancelled.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "CANCEL"
    (event,) = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(event["UID"]) == f"appointment-{appointment_id}@careslot"
    assert int(event["SEQUENCE"]) == 1
    reminders = query(
        quiet_live,
        "select status from outbox where appointment_id = $1 and template = 'reminder'",
        appointment_id,
    )
    assert {r["status"] for r in reminders} == {"skipped"}
    assert booked["Message-ID"] != cancelled["Message-ID"]


def test_schedule_changes_reach_webhooks(hooks_live: LiveServer, receiver: Receiver) -> None:
    _register(hooks_live, receiver.url, ["schedule.changed", "appointment.cancelled"])
    doctor_id = demo_doctor_id(hooks_live)
    _, token = register(hooks_live)
    slot = free_slots(hooks_live, doctor_id, days_ahead=5)[0]
    with hooks_live.client(token) as c:
        appointment_id = book(c, doctor_id, slot["start"]).json()["id"]
    start = dt.datetime.fromisoformat(slot["start"])
    period = {"start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat()}
    with hooks_live.client(hooks_live.login("staff@demo.careslot")) as staff:
        r = staff.post(f"/api/doctors/{doctor_id}/time-off?force=true", json=period)
        assert r.status_code == 201, r.text
        r = staff.delete(f"/api/doctors/{doctor_id}/time-off/{r.json()['id']}")
        assert r.status_code == 204, r.text
    drain(hooks_live.settings, hooks_live.clock.now)
    events = sorted((json.loads(body) for _, body in receiver.requests), key=lambda e: e["type"])
    assert [e["type"] for e in events] == [
        "appointment.cancelled",
        "schedule.changed",
        "schedule.changed",
    ]
    assert events[0]["data"]["id"] == appointment_id
    assert events[1]["data"] == {"doctorId": doctor_id, "change": "time_off"}
