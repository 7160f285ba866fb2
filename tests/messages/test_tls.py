"""Mail over TLS to a real aiosmtpd server whose certificate comes from a CA made in the test
(trustme): STARTTLS (`smtp://…?starttls=true`) and TLS from the start (`smtps://`), the
certificate checked against CARESLOT_SMTP_CA_FILE, and nothing sent to a server we cannot
trust."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from careslot.config import Settings
from tests.api.helpers import book, demo_doctor_id, free_slots, query, register
from tests.conftest import LiveServer, serve_in_thread
from tests.messages.conftest import MailSink, drain


class TlsSink(MailSink):
    """The tests' mail sink behind TLS; notes whether each message came over TLS."""

    def __init__(self, ca: trustme.CA, *, implicit: bool) -> None:
        super().__init__()
        self.over_tls: list[bool] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        if implicit:
            self.controller = Controller(
                self, hostname="127.0.0.1", port=self.port, ssl_context=context
            )
        else:  # plain until STARTTLS, which the server demands before any mail
            self.controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                tls_context=context,
                require_starttls=True,
            )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.over_tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _sink(ca: trustme.CA, *, implicit: bool) -> Iterator[TlsSink]:
    sink = TlsSink(ca, implicit=implicit)
    sink.controller.start()
    yield sink
    sink.stop()


@pytest.fixture
def starttls_sink(ca: trustme.CA) -> Iterator[TlsSink]:
    yield from _sink(ca, implicit=False)


@pytest.fixture
def tls_sink(ca: trustme.CA) -> Iterator[TlsSink]:
    yield from _sink(ca, implicit=True)


def _book_and_send(settings: Settings, **update: Any) -> list[tuple[str, str]]:
    """Serve with these mail settings, book, run one sender: the mail rows' (status, error)."""
    settings = settings.model_copy(
        update={"outbox_sender": False, "smtp_timeout_seconds": 5.0, **update}
    )
    for live in serve_in_thread(settings):
        _book(live)
        drain(live.settings, live.clock.now)
        rows = query(live, "select status, last_error from outbox where template = 'booked'")
    return [(r["status"], r["last_error"] or "") for r in rows]


def _book(live: LiveServer) -> None:
    _, token = register(live)
    slot = free_slots(live, demo_doctor_id(live), days_ahead=5)[0]
    with live.client(token) as c:
        r = book(c, demo_doctor_id(live), slot["start"])
        assert r.status_code == 201, r.text


def test_starttls_with_the_servers_ca(
    settings: Settings, starttls_sink: TlsSink, ca_file: str
) -> None:
    rows = _book_and_send(
        settings, smtp_url=f"{starttls_sink.url}?starttls=true", smtp_ca_file=ca_file
    )
    assert rows == [("sent", "")]
    assert len(starttls_sink.messages) == 1
    assert starttls_sink.over_tls == [True]


def test_tls_from_the_start_with_the_servers_ca(
    settings: Settings, tls_sink: TlsSink, ca_file: str
) -> None:
    url = f"smtps://127.0.0.1:{tls_sink.port}"
    assert _book_and_send(settings, smtp_url=url, smtp_ca_file=ca_file) == [("sent", "")]
    assert tls_sink.over_tls == [True]


def test_a_certificate_we_cannot_check_gets_no_mail(
    settings: Settings, starttls_sink: TlsSink
) -> None:
    """The system's authorities do not know the test's CA: nothing goes, the error is kept
    and the mail stays pending for a retry (a fixed configuration then sends it)."""
    ((status, error),) = _book_and_send(settings, smtp_url=f"{starttls_sink.url}?starttls=true")
    assert status == "pending"
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert starttls_sink.messages == []


def test_a_server_that_demands_starttls_refuses_plain_mail(
    settings: Settings, starttls_sink: TlsSink, ca_file: str
) -> None:
    ((status, error),) = _book_and_send(settings, smtp_url=starttls_sink.url, smtp_ca_file=ca_file)
    assert status == "pending"
    assert "STARTTLS" in error
    assert starttls_sink.messages == []
