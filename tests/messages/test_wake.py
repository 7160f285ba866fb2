"""The senders are woken after a change commits (messages/outbox.py: Waker), not by a NOTIFY
inside the booking's transaction, which held PostgreSQL's notify lock through the commit's
WAL flush and so queued every booking's commit behind the one before (migration 0014)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from careslot.config import Settings
from tests.api.helpers import book, demo_doctor_id, free_slots, register, scalar
from tests.conftest import LiveServer, serve_in_thread
from tests.messages.conftest import MailSink, eventually


@pytest.fixture
def slow_poll_live(mail_settings: Settings) -> Iterator[LiveServer]:
    """A sender that polls only every 60 s: only a wake can send a booking's mail sooner."""
    yield from serve_in_thread(mail_settings.model_copy(update={"outbox_poll_seconds": 60.0}))


def test_a_bookings_mail_goes_out_at_once_without_waiting_for_the_poll(
    slow_poll_live: LiveServer, sink: MailSink
) -> None:
    patient_id, token = register(slow_poll_live)
    address = scalar(slow_poll_live, "select email from users where id = $1", patient_id)
    doctor_id = demo_doctor_id(slow_poll_live)
    slots = free_slots(slow_poll_live, doctor_id, days_ahead=5)
    with slow_poll_live.client(token) as c:
        for n, slot in enumerate(slots[:3]):  # a burst: the wakes are grouped, none lost
            assert book(c, doctor_id, slot["start"]).status_code == 201
            if n == 0:
                eventually(lambda: sink.to(address), timeout=10)
    assert len(eventually(lambda: len(sink.to(address)) >= 3 and sink.to(address), 10)) == 3


async def _source(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        source: str = await conn.fetchval(
            "select prosrc from pg_proc where proname = 'outbox_appointment_changed'"
        )
        return source
    finally:
        await conn.close()


def test_the_bookings_transaction_does_not_notify(database_url: str) -> None:
    assert "pg_notify" not in asyncio.run(_source(database_url))
