"""The sender against a mail server that fails: down, slow, 4xx, 5xx; a malformed address;
no transport at all; and two senders racing for the same messages."""

from __future__ import annotations

import asyncio
import datetime as dt

from careslot.config import Settings
from careslot.messages.sender import Sender
from tests.api.helpers import book, demo_doctor_id, free_slots, query, register
from tests.conftest import LiveServer, free_port
from tests.messages.conftest import MailSink, drain


def _book(live: LiveServer, days_ahead: int = 4) -> int:
    patient_id, token = register(live)
    with live.client(token) as c:
        slot = free_slots(live, demo_doctor_id(live), days_ahead=days_ahead)[0]
        r = book(c, demo_doctor_id(live), slot["start"])
    assert r.status_code == 201, r.text
    return patient_id


def _notice(live: LiveServer) -> dict[str, object]:
    (row,) = query(
        live,
        "select status, attempts, last_error, next_attempt_at, due_at from outbox "
        "where template = 'booked'",
    )
    return dict(row)


def test_a_4xx_answer_is_retried_with_back_off(quiet_live: LiveServer, sink: MailSink) -> None:
    _book(quiet_live)
    sink.reply = "451 4.3.0 mailbox busy, try later"
    assert drain(quiet_live.settings, quiet_live.clock.now) == 1
    first = _notice(quiet_live)
    assert first["status"] == "pending"
    assert first["attempts"] == 1
    assert "451" in str(first["last_error"])
    assert drain(quiet_live.settings, quiet_live.clock.now) == 0  # not before its back-off

    quiet_live.clock.move(dt.timedelta(seconds=61))  # the first back-off is 60 s here
    assert drain(quiet_live.settings, quiet_live.clock.now) == 1
    second = _notice(quiet_live)
    assert second["attempts"] == 2
    assert isinstance(second["next_attempt_at"], dt.datetime)
    assert isinstance(first["next_attempt_at"], dt.datetime)
    assert second["next_attempt_at"] - first["next_attempt_at"] > dt.timedelta(seconds=110)

    sink.reply = None
    quiet_live.clock.move(dt.timedelta(minutes=5))
    assert drain(quiet_live.settings, quiet_live.clock.now) == 1
    assert _notice(quiet_live)["status"] == "sent"
    assert len(sink.messages) == 1


def test_a_5xx_answer_fails_for_good(quiet_live: LiveServer, sink: MailSink) -> None:
    _book(quiet_live, days_ahead=10)  # no reminder comes due in the two days moved below
    sink.reply = "550 5.1.1 no such mailbox"
    drain(quiet_live.settings, quiet_live.clock.now)
    notice = _notice(quiet_live)
    assert notice["status"] == "failed"
    assert "550" in str(notice["last_error"])
    quiet_live.clock.move(dt.timedelta(days=2))
    sink.reply = None
    drain(quiet_live.settings, quiet_live.clock.now)
    assert _notice(quiet_live)["status"] == "failed"
    assert sink.messages == []


def test_a_server_that_is_down_then_slow_then_back(quiet_live: LiveServer, sink: MailSink) -> None:
    _book(quiet_live)
    down = quiet_live.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    drain(down, quiet_live.clock.now)
    assert _notice(quiet_live)["status"] == "pending"
    assert _notice(quiet_live)["attempts"] == 1

    sink.hang.set()  # slow: DATA never answers within CARESLOT_SMTP_TIMEOUT_SECONDS (2 s)
    quiet_live.clock.move(dt.timedelta(minutes=2))
    drain(quiet_live.settings, quiet_live.clock.now)
    notice = _notice(quiet_live)
    assert (notice["status"], notice["attempts"]) == ("pending", 2)
    assert "Timeout" in str(notice["last_error"])

    sink.hang.clear()
    quiet_live.clock.move(dt.timedelta(minutes=10))
    drain(quiet_live.settings, quiet_live.clock.now)
    assert _notice(quiet_live)["status"] == "sent"


def test_still_failing_after_a_day_is_given_up(quiet_live: LiveServer, sink: MailSink) -> None:
    _book(quiet_live)
    sink.reply = "421 4.3.2 shutting down"
    for _ in range(40):
        drain(quiet_live.settings, quiet_live.clock.now)
        quiet_live.clock.move(dt.timedelta(hours=1))
    notice = _notice(quiet_live)
    assert notice["status"] == "failed"
    assert 5 < int(str(notice["attempts"])) < 30


def test_a_malformed_old_address_is_failed_not_retried(
    quiet_live: LiveServer, sink: MailSink
) -> None:
    _book(quiet_live)
    query(quiet_live, "update outbox set recipient = 'old account@' where template = 'booked'")
    assert drain(quiet_live.settings, quiet_live.clock.now) == 1
    notice = _notice(quiet_live)
    assert notice["status"] == "failed"
    assert "malformed address" in str(notice["last_error"])
    assert notice["attempts"] == 1
    quiet_live.clock.move(dt.timedelta(hours=3))
    assert drain(quiet_live.settings, quiet_live.clock.now) == 0
    assert sink.attempts == 0


def test_without_a_transport_mail_is_held_then_sent(quiet_live: LiveServer, sink: MailSink) -> None:
    _book(quiet_live)
    nowhere = quiet_live.settings.model_copy(update={"smtp_url": None})
    drain(nowhere, quiet_live.clock.now)
    assert _notice(quiet_live)["status"] == "held"
    with quiet_live.client(quiet_live.login("staff@demo.careslot")) as staff:
        r = staff.get("/api/admin/messages", params={"status": "held"})
    assert [i["template"] for i in r.json()["items"]] == ["booked"]
    drain(quiet_live.settings, quiet_live.clock.now)  # a transport again
    assert _notice(quiet_live)["status"] == "sent"
    assert len(sink.messages) == 1


def test_two_senders_racing_send_each_message_once(quiet_live: LiveServer, sink: MailSink) -> None:
    patients = 12
    for _ in range(patients):
        _book(quiet_live, days_ahead=3)
    settings: Settings = quiet_live.settings

    async def race() -> list[int]:
        assert settings.database_url
        senders = [
            Sender(settings.database_url, settings, now=quiet_live.clock.now) for _ in range(2)
        ]
        for sender in senders:
            sender.batch = 1  # race row by row, not one batch against nothing
        try:
            return list(await asyncio.gather(*(s.drain() for s in senders)))
        finally:
            for s in senders:
                await s.stop()

    handled = asyncio.run(race())
    assert sum(handled) == patients
    ids = [m["Message-ID"] for m in sink.messages]
    assert len(ids) == patients
    assert len(set(ids)) == patients
    statuses = query(quiet_live, "select status from outbox where template = 'booked'")
    assert {r["status"] for r in statuses} == {"sent"}
