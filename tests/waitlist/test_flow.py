"""The waitlist end to end over HTTP: join, a cancellation frees the slot, the offer holds it
(not in /api/slots, nobody else can book it), the patient is mailed, accepts, and is booked."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.api.helpers import assert_problem, book, register, scalar
from tests.conftest import LiveServer, Serve
from tests.messages.conftest import MailSink, eventually
from tests.waitlist import steps


def test_a_cancelled_slot_is_offered_held_mailed_and_accepted(
    mail_live: LiveServer, sink: MailSink
) -> None:
    live = mail_live
    freed = steps.booked_slot(live)
    waiting_id, waiting = register(live, "Waiting Patient")
    joined = steps.join(live, waiting, freed)
    assert joined["offer"] is None
    before = {k: steps.counter(live, k) for k in ("made", "accepted")}

    steps.cancel(live, freed)
    found = steps.offered(live, waiting, joined["id"])
    offer = found["offer"]
    assert dt.datetime.fromisoformat(offer["start"]) == dt.datetime.fromisoformat(freed.start)
    assert offer["doctorId"] == freed.doctor_id
    expires = dt.datetime.fromisoformat(offer["expiresAt"])
    assert dt.timedelta(minutes=14) < expires - live.clock.now() <= dt.timedelta(minutes=15)

    # Held: not in the slot list, and nobody else can book it.
    assert freed.start not in steps.slot_starts(live, freed.doctor_id, freed.day)
    _, other = register(live, "Other Patient")
    with live.client(other) as c:
        assert_problem(book(c, freed.doctor_id, freed.start), 409, "slot_taken")
    # Nor is it anyone's appointment: the holder's list does not show it yet.
    with live.client(waiting) as c:
        assert c.get("/api/appointments").json()["items"] == []

    mail = eventually(
        lambda: sink.to(scalar(live, "select email from users where id = $1", waiting_id))
    )
    text = mail[0].get_body(("plain",)).get_content()
    assert mail[0]["Subject"].startswith("A slot is free for you")
    assert f"/appointments?offer={joined['id']}&action=accept" in text
    assert f"/appointments?offer={joined['id']}&action=decline" in text

    with live.client(waiting) as c:
        r = c.post(f"/api/waitlist/{joined['id']}/accept")
    assert r.status_code == 201, r.text
    booked = r.json()
    assert booked["clientId"] == waiting_id
    assert dt.datetime.fromisoformat(booked["start"]) == dt.datetime.fromisoformat(freed.start)
    assert booked["status"] == "scheduled"
    assert steps.entry(live, waiting, joined["id"])["status"] == "booked"
    with live.client(waiting) as c:
        assert [a["id"] for a in c.get("/api/appointments").json()["items"]] == [booked["id"]]
        assert_problem(c.post(f"/api/waitlist/{joined['id']}/accept"), 409, "offer_gone")
    assert {k: steps.counter(live, k) - v for k, v in before.items()} == {
        "made": 1,
        "accepted": 1,
    }
    with live.client() as c:
        assert "careslot_waitlist_rebooked_minutes_bucket" in c.get("/metrics").text


def test_the_offer_is_a_signed_waitlist_offered_webhook(serve: Serve) -> None:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    received: list[tuple[dict[str, str], str]] = []

    def handle(request: Request) -> Response:
        received.append((dict(request.headers), request.get_data(as_text=True)))
        return Response("ok", 200)

    server.expect_request("/hook").respond_with_handler(handle)
    try:
        live = serve(webhook_allow_private=True)
        with live.client(live.login("admin@demo.careslot")) as admin:
            r = admin.post(
                "/api/admin/webhooks",
                json={"url": server.url_for("/hook"), "events": ["waitlist.offered"]},
            )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        freed = steps.booked_slot(live)
        waiting_id, waiting = register(live, "Hooked Patient")
        joined = steps.join(live, waiting, freed)
        steps.cancel(live, freed)
        steps.offered(live, waiting, joined["id"])
        ((headers, body),) = eventually(lambda: received)
    finally:
        server.clear()
        server.stop()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['Webhook-Id']}.{headers['Webhook-Timestamp']}.{body}".encode()
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["Webhook-Signature"] == expected
    event = json.loads(body)
    assert event["type"] == "waitlist.offered"
    assert event["data"]["entryId"] == joined["id"]
    assert event["data"]["clientId"] == waiting_id
    assert event["data"]["status"] == "held"
    assert dt.datetime.fromisoformat(event["data"]["start"]) == dt.datetime.fromisoformat(
        freed.start
    )
    assert "reason" not in event["data"]
