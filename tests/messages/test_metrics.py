"""The outbox on /metrics: depth, oldest waiting age, sends, failures and retries."""

from __future__ import annotations

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import book, demo_doctor_id, free_slots, register
from tests.conftest import LiveServer
from tests.messages.conftest import MailSink, eventually


def _samples(live: LiveServer) -> dict[str, float]:
    with live.client() as c:
        text = c.get("/metrics").text
    return {
        sample.name + "".join(f"{{{v}}}" for v in sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("careslot_outbox")
        for sample in family.samples
    }


def test_a_failing_mail_server_shows_on_metrics(mail_live: LiveServer, sink: MailSink) -> None:
    before = _samples(mail_live)
    sink.reply = "451 4.3.0 try later"
    _, token = register(mail_live)
    with mail_live.client(token) as c:
        slot = free_slots(mail_live, demo_doctor_id(mail_live), days_ahead=4)[0]
        assert book(c, demo_doctor_id(mail_live), slot["start"]).status_code == 201
    retries = "careslot_outbox_retries_total{email}"
    waiting = eventually(
        lambda: (
            # .get: the series only exists after the first retry, which may not have run yet
            (s := _samples(mail_live)).get(retries, 0) > before.get(retries, 0)
            and s["careslot_outbox_depth"] >= 1
            and s
        )
    )
    assert waiting["careslot_outbox_oldest_pending_seconds"] >= 0

    sink.reply = None
    mail_live.clock.move(dt.timedelta(minutes=5))  # past the back-off
    sent = "careslot_outbox_sent_total{email}"
    done = eventually(
        lambda: (
            (s := _samples(mail_live)).get(sent, 0) > before.get(sent, 0)
            and s["careslot_outbox_depth"] == 0
            and s
        )
    )
    assert done["careslot_outbox_oldest_pending_seconds"] == 0
    assert done.get("careslot_outbox_failed_total{email}", 0) == before.get(
        "careslot_outbox_failed_total{email}", 0
    )
