"""A real SMTP server in the test process (aiosmtpd), careslot sending to it, and senders the
tests drive themselves with a clock they move."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import gc
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from careslot.config import Settings
from careslot.messages.sender import Sender
from tests.conftest import LiveServer, free_port, serve_in_thread


class MailSink:
    """Keeps every message it accepts. `reply` makes DATA answer that instead (e.g. 451,
    550); `hang` makes DATA wait until released (a slow server), keeping the message first
    if `keep_hung` (a server that took it, but whose answer never arrived)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.reply: str | None = None
        self.hang = threading.Event()
        self.released = threading.Event()
        self.keep_hung = False
        self.attempts = 0
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if self.hang.is_set():
            if self.keep_hung:
                self.messages.append(message)
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait, 60)
            return "451 4.4.2 took too long"
        if self.reply is not None:
            return self.reply
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def stop(self) -> None:
        """Stop the server, and with it whatever sockets its connections left.

        aiosmtpd's server can drop the plain socket under a TLS connection whose client has
        gone without closing it (CPython 3.11's TLS transport, after a STARTTLS or with TLS
        from the start); the socket's "unclosed transport" warning then fired in whichever
        later test the collector ran in. Those sockets are the sink's: they are collected
        here, while it stops, with those warnings silenced."""
        self.released.set()
        with tls_leftovers_collected():
            self.controller.stop()
            self.controller.smtpd = None  # the last connection's protocol, and its transport


@contextlib.contextmanager
def tls_leftovers_collected() -> Iterator[None]:
    """Run the block, then collect the sockets of TLS connections whose event loop ended
    while their TLS shutdown was still under way (a sink's server loop; a test sender's
    `asyncio.run`), silencing only the ResourceWarnings those sockets raise when finalised."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed transport", ResourceWarning)
        warnings.filterwarnings("ignore", "unclosed <socket.socket", ResourceWarning)
        yield
        gc.collect()


@pytest.fixture
def sink() -> Iterator[MailSink]:
    mail = MailSink()
    mail.controller.start()
    yield mail
    mail.stop()


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Wait for something that happens in the background (a send); fail if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("it never happened")
        time.sleep(0.02)


@pytest.fixture
def mail_settings(settings: Settings, sink: MailSink) -> Settings:
    return settings.model_copy(
        update={"smtp_url": sink.url, "outbox_retry_seconds": 60.0, "smtp_timeout_seconds": 2.0}
    )


@pytest.fixture
def mail_live(mail_settings: Settings) -> Iterator[LiveServer]:
    """careslot with its own sender, mailing the sink."""
    yield from serve_in_thread(mail_settings)


@pytest.fixture
def quiet_live(mail_settings: Settings) -> Iterator[LiveServer]:
    """careslot that writes messages but leaves sending to the test's own senders."""
    yield from serve_in_thread(mail_settings.model_copy(update={"outbox_sender": False}))


def drain(settings: Settings, now: Callable[[], datetime]) -> int:
    """One sender (its own connection), run until nothing is due; how many rows it handled."""

    async def run() -> int:
        assert settings.database_url
        sender = Sender(settings.database_url, settings, now=now)
        try:
            return await sender.drain()
        finally:
            await sender.stop()

    with tls_leftovers_collected():  # a STARTTLS socket may outlive the loop's close
        return asyncio.run(run())
