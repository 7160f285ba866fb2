"""Mail through a real SMTP server: what a patient receives for a booking, a move and a
cancellation, what it never contains, and what staff see in the outbox."""

from __future__ import annotations

from email.message import EmailMessage

import icalendar

from tests.api.helpers import book, demo_doctor_id, free_slots, register, scalar
from tests.conftest import LiveServer
from tests.messages.conftest import MailSink, eventually

REASON = "Lump in left breast, biopsy follow-up"


def _calendar(message: EmailMessage) -> tuple[str, icalendar.Calendar]:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return parts[0].get_param("method"), icalendar.Calendar.from_ical(parts[0].get_content())


def _text(message: EmailMessage) -> str:
    return "\n".join(
        str(p.get_content())
        for p in message.walk()
        if p.get_content_maintype() == "text" and p.get_content_subtype() in ("plain", "html")
    )


def test_booking_moving_and_cancelling_each_send_one_mail(
    mail_live: LiveServer, sink: MailSink
) -> None:
    patient_id, token = register(mail_live, name="Mail Patient")
    email_address = scalar(mail_live, "select email from users where id = $1", patient_id)
    doctor_id = demo_doctor_id(mail_live)
    slots = free_slots(mail_live, doctor_id, days_ahead=5)
    with mail_live.client(token) as c:
        r = book(c, doctor_id, slots[0]["start"], reason=REASON)
        assert r.status_code == 201, r.text
        appointment_id = r.json()["id"]
        booked = eventually(lambda: sink.to(email_address))[0]

        r = c.patch(f"/api/appointments/{appointment_id}", json={"start": slots[3]["start"]})
        assert r.status_code == 200, r.text
        moved = eventually(lambda: sink.to(email_address)[1:])[0]

        r = c.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"})
        assert r.status_code == 200, r.text
        cancelled = eventually(lambda: sink.to(email_address)[2:])[0]

    uids, sequences = set(), []
    for message, method, subject in (
        (booked, "REQUEST", "is booked"),
        (moved, "REQUEST", "has moved"),
        (cancelled, "CANCEL", "is cancelled"),
    ):
        assert subject in message["Subject"]
        assert REASON not in message.as_string()  # never clinical content
        assert "Mail Patient" in _text(message)
        found_method, calendar = _calendar(message)
        assert found_method == method
        assert calendar["METHOD"] == method
        (event,) = calendar.walk("VEVENT")
        uids.add(str(event["UID"]))
        sequences.append(int(event["SEQUENCE"]))
    assert uids == {f"appointment-{appointment_id}@careslot"}
    assert sequences == [0, 1, 2]
    assert len({m["Message-ID"] for m in (booked, moved, cancelled)}) == 3
    assert len(sink.to(email_address)) == 3  # nothing else went (reminders were not due)

    with mail_live.client(mail_live.login("staff@demo.careslot")) as staff:
        r = staff.get("/api/admin/messages", params={"appointmentId": appointment_id})
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers["cache-control"]
    items = r.json()["items"]
    sent = sorted(i["template"] for i in items if i["status"] == "sent")
    assert sent == ["booked", "cancelled", "rescheduled"]
    reminders = [i for i in items if i["template"] == "reminder"]
    # Two for the booking, replaced by two for the move, dropped by the cancellation.
    assert len(reminders) == 4
    assert {i["status"] for i in reminders} == {"skipped"}
    assert all(i["to"] == email_address for i in items)
    assert all(i["sentAt"] for i in items if i["status"] == "sent")


def test_patients_may_not_read_the_outbox(mail_live: LiveServer) -> None:
    _, token = register(mail_live)
    with mail_live.client(token) as c:
        assert c.get("/api/admin/messages").status_code == 403
    with mail_live.client(mail_live.login("staff@demo.careslot")) as staff:
        r = staff.get("/api/admin/messages", params={"status": "bogus"})
        assert r.status_code == 422
