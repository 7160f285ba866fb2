"""/admin/messages in a real browser: staff see what was sent and what is held (and filter by
status); a patient who opens the address gets their own home page, not the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest
from playwright.sync_api import expect

from careslot.config import Settings
from tests.api.helpers import book, demo_doctor_id, free_slots, register, scalar
from tests.conftest import LiveServer, serve_in_thread
from tests.messages.conftest import MailSink, drain
from tests.web.conftest import Pages


@pytest.fixture
def sink() -> Iterator[MailSink]:
    mail = MailSink()
    mail.controller.start()
    yield mail
    mail.stop()


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    """careslot that writes messages and leaves sending to the test (the pages' server)."""
    yield from serve_in_thread(settings.model_copy(update={"outbox_sender": False}))


class Outbox(NamedTuple):
    sent_to: str
    held_to: str


def _book_new_patient(live: LiveServer, slot: int) -> str:
    patient_id, token = register(live)
    doctor_id = demo_doctor_id(live)
    start = free_slots(live, doctor_id, days_ahead=5)[slot]["start"]
    with live.client(token) as c:
        r = book(c, doctor_id, start)
        assert r.status_code == 201, r.text
    email: str = scalar(live, "select email from users where id = $1", patient_id)
    return email


@pytest.fixture
def outbox(live: LiveServer, sink: MailSink) -> Outbox:
    """One patient's booking mail sent to the sink, another's held (no mail server then).
    Made before the browser starts: the senders run their own event loop."""
    sent_to = _book_new_patient(live, 0)
    drain(live.settings.model_copy(update={"smtp_url": sink.url}), live.clock.now)
    held_to = _book_new_patient(live, 1)
    drain(live.settings, live.clock.now)  # no CARESLOT_SMTP_URL: held
    assert [m["To"] for m in sink.messages] == [sent_to]
    return Outbox(sent_to, held_to)


def test_staff_see_sent_and_held_messages_a_patient_cannot(outbox: Outbox, pages: Pages) -> None:
    staff = pages.new()
    pages.sign_in(staff, "staff@demo.careslot", then="/admin/messages")
    assert staff.get_by_role("heading", name="Messages").is_visible()
    rows = staff.locator("table.messages tbody tr")
    sent = rows.filter(has_text=outbox.sent_to).filter(has_text="booked")
    held = rows.filter(has_text=outbox.held_to).filter(has_text="booked")
    expect(sent).to_have_class("status-sent")
    expect(held).to_have_class("status-held")
    assert sent.locator("td").nth(5).inner_text() == "sent"
    assert held.locator("td").nth(5).inner_text() == "held"
    assert sent.locator("td").nth(7).inner_text() != ""  # when it was sent

    staff.get_by_label("Status").select_option("held")
    staff.get_by_role("button", name="Show").click()
    staff.wait_for_url("**/admin/messages?status=held")
    expect(rows.filter(has_text=outbox.held_to)).to_have_count(1)
    expect(rows.filter(has_text=outbox.sent_to)).to_have_count(0)
    assert {rows.nth(i).get_attribute("class") for i in range(rows.count())} == {"status-held"}

    patient = pages.new()
    pages.sign_in(patient, "patient@demo.careslot", then="/dashboard")
    patient.goto("/admin/messages")
    assert not patient.url.endswith("/admin/messages")
    assert patient.get_by_role("heading", name="Messages").count() == 0
    content = patient.content()
    assert outbox.sent_to not in content
    assert outbox.held_to not in content
