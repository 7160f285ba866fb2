"""Real processes: `careslot serve --demo` shows mail working, and a sender killed with
SIGKILL mid-send loses nothing and sends at most one duplicate, with the same Message-ID."""

# ruff: noqa: S603 (the tests run our own installed command)

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from careslot.config import Settings
from tests.api.helpers import book, demo_doctor_id, free_slots, query, register
from tests.conftest import LiveServer, free_port
from tests.messages.conftest import MailSink, drain, eventually
from tests.test_cli import _env, _wait_healthy, empty_database

CARESLOT = str(Path(sys.executable).parent / "careslot")
__all__ = ["empty_database"]  # the CLI tests' fixture, used here too


def _serve(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [CARESLOT, "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_healthy(f"http://127.0.0.1:{port}", process)
    return process


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


@pytest.mark.slow
def test_serve_demo_catches_mail_locally(
    empty_database: str, tmp_path: Path, stop: list[subprocess.Popen[str]]
) -> None:
    env = {k: v for k, v in _env(empty_database, tmp_path).items() if k != "CARESLOT_SMTP_URL"}
    port = free_port()
    process = _serve(env, port, "--demo")
    stop.append(process)
    live = LiveServer(f"http://127.0.0.1:{port}", Settings(database_url=empty_database))
    _, token = register(live, name="New Demo User")
    with live.client(token) as c:
        slot = free_slots(live, demo_doctor_id(live), days_ahead=3)[0]
        assert book(c, demo_doctor_id(live), slot["start"]).status_code == 201
    folder = tmp_path / "demo-mail"
    (saved,) = eventually(lambda: list(folder.glob("*.eml")))
    assert b"New Demo User" in saved.read_bytes()
    with live.client(live.login("staff@demo.careslot")) as staff:
        html = eventually(
            lambda: (
                (r := staff.get("/admin/messages")).status_code == 200
                and "status-sent" in r.text
                and r.text
            )
        )
    assert "booked" in html
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    assert f"keeps every message in {folder.resolve()}" in out.replace("\n", " ")
    assert f"127.0.0.1:{port}/admin/messages" in out


def _book_one(live: LiveServer) -> str:
    patient_id, token = register(live)
    with live.client(token) as c:
        slot = free_slots(live, demo_doctor_id(live), days_ahead=4)[0]
        assert book(c, demo_doctor_id(live), slot["start"]).status_code == 201
    address: str = query(live, "select email from users where id = $1", patient_id)[0][0]
    return address


@pytest.mark.slow
@pytest.mark.parametrize("server_kept_it", [False, True], ids=["before-send", "mid-send"])
def test_a_sender_killed_mid_send_loses_nothing(
    database_url: str,
    tmp_path: Path,
    sink: MailSink,
    stop: list[subprocess.Popen[str]],
    server_kept_it: bool,
) -> None:
    """The sender is stuck in DATA (a hanging server) when it is killed with SIGKILL.
    before-send: the server had not taken the message; mid-send: it had (the crash came
    between the server's acceptance and our commit). A restarted sender sends it again."""
    env = {**_env(database_url, tmp_path), "CARESLOT_SMTP_URL": sink.url}
    port = free_port()
    process = _serve(env, port)
    stop.append(process)
    live = LiveServer(f"http://127.0.0.1:{port}", Settings(database_url=database_url))
    sink.hang.set()
    sink.keep_hung = server_kept_it
    address = _book_one(live)
    eventually(lambda: sink.attempts == 1)  # the sender is inside DATA, row locked
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=20)
    sink.hang.clear()
    sink.released.set()

    settings = Settings(database_url=database_url, smtp_url=sink.url)
    assert drain(settings, lambda: datetime.now(UTC)) == 1
    assert drain(settings, lambda: datetime.now(UTC)) == 0
    delivered = sink.to(address)
    # before-send: sent once after the restart; mid-send: one duplicate, same Message-ID
    assert len(delivered) == 1 + server_kept_it
    assert len({m["Message-ID"] for m in delivered}) == 1
    (row,) = query(
        live, "select status, attempts, message_id from outbox where template = 'booked'"
    )
    assert row["status"] == "sent"
    assert row["attempts"] == 1  # the killed attempt never committed
    assert str(row["message_id"]) in delivered[0]["Message-ID"]


@pytest.mark.slow
def test_serve_stops_while_a_send_hangs(
    database_url: str, tmp_path: Path, sink: MailSink, stop: list[subprocess.Popen[str]]
) -> None:
    """SIGTERM in the middle of a send to a hung server: careslot still exits, and the
    message stays pending for the next start."""
    env = {**_env(database_url, tmp_path), "CARESLOT_SMTP_URL": sink.url}
    port = free_port()
    process = _serve(env, port)
    stop.append(process)
    live = LiveServer(f"http://127.0.0.1:{port}", Settings(database_url=database_url))
    sink.hang.set()
    _book_one(live)
    eventually(lambda: sink.attempts == 1)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    (row,) = query(live, "select status from outbox where template = 'booked'")
    assert row["status"] == "pending"
