"""The waitlist end to end over HTTP: join, a cancellation frees the slot, the offer holds it
(not in /api/slots, nobody else can book it), the patient is mailed, accepts, and is booked."""

from __future__ import annotations

import datetime as dt

from tests.api.helpers import assert_problem, book, register, scalar
from tests.conftest import LiveServer
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
