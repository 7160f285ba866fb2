"""Webhooks against a real HTTP receiver (pytest-httpserver): registration rules, Standard
Webhooks signatures checked by hand, and retries with the same webhook-id through 500s,
redirects and a receiver that hangs, until given up after 24 hours."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from careslot.config import Settings
from careslot.messages import webhooks
from tests.api.helpers import assert_problem, book, demo_doctor_id, free_slots, query, register
from tests.conftest import LiveServer, serve_in_thread
from tests.messages.conftest import drain


@pytest.fixture
def hooks_live(settings: Settings) -> Iterator[LiveServer]:
    """careslot that may call a receiver on loopback, leaving sending to the test."""
    yield from serve_in_thread(
        settings.model_copy(
            update={
                "webhook_allow_private": True,
                "outbox_sender": False,
                "webhook_timeout_seconds": 1.0,
                "outbox_retry_seconds": 60.0,
            }
        )
    )


class Receiver:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.requests: list[tuple[dict[str, str], str]] = []
        self.answer: Callable[[], Response] = lambda: Response("ok", 200)
        self.release = threading.Event()
        server.expect_request("/hook").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), request.get_data(as_text=True)))
        return self.answer()

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    # Threaded: a hanging answer must not hold up the next attempt's request.
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    found = Receiver(server)
    yield found
    found.release.set()
    server.clear()
    server.stop()


def _register(live: LiveServer, url: str, events: list[str]) -> dict[str, Any]:
    with live.client(live.login("admin@demo.careslot")) as admin:
        r = admin.post("/api/admin/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _book(live: LiveServer, reason: str = "") -> int:
    _, token = register(live)
    with live.client(token) as c:
        slot = free_slots(live, demo_doctor_id(live), days_ahead=4)[0]
        r = book(c, demo_doctor_id(live), slot["start"], reason=reason)
    assert r.status_code == 201, r.text
    appointment_id: int = r.json()["id"]
    return appointment_id


def _signature(secret: str, headers: dict[str, str], body: str) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['Webhook-Id']}.{headers['Webhook-Timestamp']}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_admins_register_list_and_delete(live: LiveServer) -> None:
    hook = _register(live, "https://93.184.215.14/hook", ["appointment.booked"])
    assert list(hook) == ["id", "url", "events", "createdAt", "secret"]  # the wire's keys
    assert hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"][6:])) == 32
    with live.client(live.login("admin@demo.careslot")) as admin:
        listed = admin.get("/api/admin/webhooks").json()["items"]
        assert [list(h) for h in listed] == [["id", "url", "events", "createdAt"]]
        assert listed[0]["createdAt"] == hook["createdAt"]
        assert [(h["id"], h["url"]) for h in listed] == [(hook["id"], hook["url"])]
        assert "secret" not in listed[0]  # shown once
        assert admin.delete(f"/api/admin/webhooks/{hook['id']}").status_code == 204
        assert_problem(admin.delete(f"/api/admin/webhooks/{hook['id']}"), 404, "not_found")
        assert admin.get("/api/admin/webhooks").json()["items"] == []
    with live.client(live.login("staff@demo.careslot")) as staff:
        assert_problem(staff.get("/api/admin/webhooks"), 403, "forbidden")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://93.184.215.14/hook",
    ],
)
def test_private_addresses_are_refused(live: LiveServer, url: str) -> None:
    with live.client(live.login("admin@demo.careslot")) as admin:
        r = admin.post("/api/admin/webhooks", json={"url": url, "events": ["appointment.booked"]})
    assert_problem(r, 422, "webhook_url_refused")
    assert query(live, "select count(*) from webhooks")[0][0] == 0


def test_unknown_events_are_refused(live: LiveServer) -> None:
    with live.client(live.login("admin@demo.careslot")) as admin:
        for events in ([], ["appointment.exploded"]):
            r = admin.post(
                "/api/admin/webhooks", json={"url": "https://93.184.215.14/", "events": events}
            )
            assert_problem(r, 422, "validation_error")


def test_deliveries_are_signed_and_carry_no_reason(
    hooks_live: LiveServer, receiver: Receiver
) -> None:
    hook = _register(hooks_live, receiver.url, ["appointment.booked", "appointment.cancelled"])
    appointment_id = _book(hooks_live, reason="Recurring migraine")
    drain(hooks_live.settings, hooks_live.clock.now)
    ((headers, body),) = receiver.requests
    assert headers["Webhook-Signature"] == _signature(hook["secret"], headers, body)
    assert abs(int(headers["Webhook-Timestamp"]) - hooks_live.clock.now().timestamp()) < 600
    event = json.loads(body)
    assert event["type"] == "appointment.booked"
    assert event["data"]["id"] == appointment_id
    assert "reason" not in event["data"]
    assert "Recurring migraine" not in body
    assert {"start", "end", "doctorId", "status"} <= set(event["data"])


ANSWERS = {
    "500": lambda: Response("boom", 500),
    "redirect": lambda: Response("", 302, headers={"Location": "/elsewhere"}),
}


@pytest.mark.parametrize("fault", ["500", "redirect", "hang"])
def test_failed_deliveries_are_retried_with_the_same_id_for_a_day(
    hooks_live: LiveServer, receiver: Receiver, fault: str
) -> None:
    if fault == "hang":  # longer than the 1 s timeout
        receiver.answer = lambda: (receiver.release.wait(2), Response("late", 200))[1]
    else:
        receiver.answer = ANSWERS[fault]
    _register(hooks_live, receiver.url, ["appointment.booked"])
    _book(hooks_live)
    for _ in range(3):
        drain(hooks_live.settings, hooks_live.clock.now)
        hooks_live.clock.move(dt.timedelta(hours=1))
    (row,) = query(
        hooks_live, "select status, attempts, last_error from outbox where channel = 'webhook'"
    )
    assert (row["status"], row["attempts"]) == ("pending", 3)
    expected = {"500": "HTTP 500", "redirect": "HTTP 302", "hang": "timed out"}[fault]
    assert expected in row["last_error"]
    ids = {headers["Webhook-Id"] for headers, _ in receiver.requests}
    assert len(receiver.requests) == 3
    assert len(ids) == 1  # every retry carries the same webhook-id
    receiver.answer = ANSWERS["500"]
    for _ in range(24):
        drain(hooks_live.settings, hooks_live.clock.now)
        hooks_live.clock.move(dt.timedelta(hours=1))
    (row,) = query(hooks_live, "select status from outbox where channel = 'webhook'")
    assert row["status"] == "failed"  # still failing after 24 h: given up
    assert {headers["Webhook-Id"] for headers, _ in receiver.requests} == ids


def test_a_recovered_receiver_gets_it_and_a_booking_never_waits(
    hooks_live: LiveServer, receiver: Receiver
) -> None:
    receiver.answer = lambda: (receiver.release.wait(2), Response("late", 200))[1]
    _register(hooks_live, receiver.url, ["appointment.booked"])
    _book(hooks_live)  # the receiver hangs, but nothing calls it during the booking
    assert receiver.requests == []
    receiver.answer = lambda: Response("ok", 204)
    drain(hooks_live.settings, hooks_live.clock.now)
    (row,) = query(hooks_live, "select status from outbox where channel = 'webhook'")
    assert row["status"] == "sent"


def test_each_change_is_its_own_event(hooks_live: LiveServer, receiver: Receiver) -> None:
    _register(
        hooks_live,
        receiver.url,
        ["appointment.rescheduled", "appointment.status_changed", "appointment.cancelled"],
    )
    appointment_id = _book(hooks_live)  # booked: not subscribed
    later = free_slots(hooks_live, demo_doctor_id(hooks_live), days_ahead=9)[0]
    with hooks_live.client(hooks_live.login("staff@demo.careslot")) as staff:
        for change in ({"start": later["start"]}, {"status": "confirmed"}, {"status": "cancelled"}):
            r = staff.patch(f"/api/appointments/{appointment_id}", json=change)
            assert r.status_code == 200, r.text
    drain(hooks_live.settings, hooks_live.clock.now)
    events = [json.loads(body) for _, body in receiver.requests]
    assert [e["type"] for e in events] == [
        "appointment.rescheduled",
        "appointment.status_changed",
        "appointment.cancelled",
    ]
    assert [e["data"]["status"] for e in events] == ["scheduled", "confirmed", "cancelled"]
    assert len({headers["Webhook-Id"] for headers, _ in receiver.requests}) == 3


class Dns:
    """Our resolver seam (`webhooks.resolve`) answering from a table the test changes: a
    name server that gives one address at registration and another at delivery."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.asked: list[str] = []

    async def resolve(self, host: str) -> list[webhooks.Address]:
        self.asked.append(host)
        return [ipaddress.ip_address(self.answers[host])]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    found = Dns()
    monkeypatch.setattr(webhooks, "resolve", found.resolve)
    return found


@pytest.fixture
def strict_live(settings: Settings) -> Iterator[LiveServer]:
    """careslot that refuses private receivers (the default), leaving sending to the test."""
    yield from serve_in_thread(
        settings.model_copy(update={"webhook_allow_private": False, "outbox_sender": False})
    )


NAME = "hooks.careslot.test"  # .test never resolves in the real DNS (RFC 6761)


def test_a_name_that_rebinds_to_loopback_after_registration_is_refused_at_delivery(
    strict_live: LiveServer, receiver: Receiver, dns: Dns
) -> None:
    dns.answers[NAME] = "93.184.215.14"  # public when the admin registers it
    _register(strict_live, f"http://{NAME}:{receiver.server.port}/hook", ["appointment.booked"])
    dns.answers[NAME] = "127.0.0.1"  # then the name points into the hospital
    _book(strict_live)
    drain(strict_live.settings, strict_live.clock.now)
    (row,) = query(strict_live, "select status, last_error from outbox where channel = 'webhook'")
    assert row["status"] == "failed"  # permanent: not retried into the network
    assert "127.0.0.1" in row["last_error"]
    assert receiver.requests == []


def test_delivery_connects_to_the_address_it_checked(
    hooks_live: LiveServer, receiver: Receiver, dns: Dns
) -> None:
    """httpx is handed the checked address, not the name: a name only our resolver knows is
    delivered to (a second lookup by httpx would fail), with the name as Host."""
    dns.answers[NAME] = "127.0.0.1"
    _register(hooks_live, f"http://{NAME}:{receiver.server.port}/hook", ["appointment.booked"])
    _book(hooks_live)
    dns.asked.clear()
    drain(hooks_live.settings, hooks_live.clock.now)
    (row,) = query(hooks_live, "select status, last_error from outbox where channel = 'webhook'")
    assert row["status"] == "sent", row["last_error"]
    ((headers, _),) = receiver.requests
    assert headers["Host"] == f"{NAME}:{receiver.server.port}"
    assert dns.asked == [NAME]  # resolved once per delivery: what is checked is what is used


@pytest.mark.parametrize(
    ("url", "address", "target", "host"),
    [
        (
            "https://hooks.example/a?b=1",
            "93.184.215.14",
            "https://93.184.215.14/a?b=1",
            "hooks.example",
        ),
        (
            "http://u:p@hooks.example:8080/a",
            "2001:db8::1",
            "http://u:p@[2001:db8::1]:8080/a",
            "hooks.example:8080",
        ),
    ],
)
def test_pinned_urls_keep_everything_but_the_host(
    url: str, address: str, target: str, host: str
) -> None:
    assert webhooks.pinned(url, ipaddress.ip_address(address)) == (target, host)
