"""Per-client-address limits on failed sign-ins and registrations (issue 13, item 4), the
address taken from X-Forwarded-For only behind a trusted proxy, bounded hashing per worker,
and the origin check on login and register."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from careslot.accounts.limits import client_address
from careslot.accounts.passwords import Passwords
from careslot.config import Settings
from careslot.seeding.demo import PASSWORD as DEMO_PASSWORD
from tests.api.helpers import PASSWORD, assert_problem
from tests.conftest import LiveServer, serve_in_thread

PATIENT = "patient@demo.careslot"


@pytest.fixture
def limited(database_url: str) -> Iterator[LiveServer]:
    yield from serve_in_thread(
        Settings(
            database_url=database_url,
            redis_url=None,
            login_failures_per_address=3,
            registrations_per_address=2,
        )
    )


@pytest.fixture
def behind_proxy(database_url: str) -> Iterator[LiveServer]:
    yield from serve_in_thread(
        Settings(
            database_url=database_url,
            redis_url=None,
            login_failures_per_address=2,
            registrations_per_address=1,
            trusted_proxies="127.0.0.1, 10.0.0.0/8",
        )
    )


def _fail_login(live: LiveServer, n: int, **headers: str) -> None:
    with live.client() as c:
        r = c.post(
            "/api/auth/login",
            json={"email": f"unknown-{n}-{time.monotonic_ns()}@x.test", "password": "wrong-pass"},
            headers=headers,
        )
    assert_problem(r, 401, "unauthenticated")


def _login(live: LiveServer, **headers: str) -> int:
    with live.client() as c:
        r = c.post(
            "/api/auth/login", json={"email": PATIENT, "password": DEMO_PASSWORD}, headers=headers
        )
    return r.status_code


def _register(live: LiveServer, n: int, **headers: str) -> tuple[int, dict[str, str], str]:
    with live.client() as c:
        r = c.post(
            "/api/auth/register",
            json={
                "email": f"new-{n}-{time.monotonic_ns()}@x.test",
                "password": PASSWORD,
                "name": "N",
            },
            headers=headers,
        )
    return r.status_code, dict(r.headers), r.text


def test_failed_logins_from_one_address_are_limited_with_ever_new_emails(
    limited: LiveServer,
) -> None:
    for n in range(3):
        _fail_login(limited, n)
    with limited.client() as c:
        r = c.post("/api/auth/login", json={"email": "fresh@x.test", "password": "wrong-pass"})
    body = assert_problem(r, 429, "rate_limited")
    assert "address" in body["detail"]
    retry_after = int(r.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    assert _login(limited) == 429  # even the right password: the address is out of tries

    limited.clock.move(timedelta(minutes=15, seconds=1))  # the window passes
    assert _login(limited) == 200


def test_a_successful_login_is_not_a_failure(limited: LiveServer) -> None:
    for _ in range(5):
        assert _login(limited) == 200
    _fail_login(limited, 0)
    assert _login(limited) == 200


def test_registrations_from_one_address_are_limited(limited: LiveServer) -> None:
    assert _register(limited, 0)[0] == 201
    assert _register(limited, 1)[0] == 201
    status, headers, text = _register(limited, 2)
    assert status == 429, text
    assert headers["content-type"].startswith("application/problem+json")
    assert 0 < int(headers["retry-after"]) <= 3600

    limited.clock.move(timedelta(minutes=59))
    assert _register(limited, 3)[0] == 429
    limited.clock.move(timedelta(minutes=1, seconds=1))
    assert _register(limited, 4)[0] == 201


def test_forwarded_for_is_ignored_from_an_untrusted_peer(limited: LiveServer) -> None:
    for n in range(3):
        _fail_login(limited, n, **{"X-Forwarded-For": f"203.0.113.{n}"})
    assert _login(limited, **{"X-Forwarded-For": "203.0.113.99"}) == 429


def test_forwarded_for_counts_behind_a_trusted_proxy(behind_proxy: LiveServer) -> None:
    live = behind_proxy
    for n in range(2):
        _fail_login(live, n, **{"X-Forwarded-For": "198.51.100.7, 10.1.2.3"})
    assert _login(live, **{"X-Forwarded-For": "198.51.100.7"}) == 429
    # Another client behind the same proxy has its own budget...
    assert _login(live, **{"X-Forwarded-For": "198.51.100.8"}) == 200
    # ... and a client cannot pick its address by prepending one: the right-most untrusted hop
    # (what the proxy saw) counts.
    assert _login(live, **{"X-Forwarded-For": "192.0.2.1, 198.51.100.7"}) == 429
    assert _register(live, 0, **{"X-Forwarded-For": "198.51.100.9"})[0] == 201
    assert _register(live, 1, **{"X-Forwarded-For": "198.51.100.9"})[0] == 429
    assert _register(live, 2, **{"X-Forwarded-For": "198.51.100.10"})[0] == 201


def test_client_address() -> None:
    trusted = "127.0.0.1,10.0.0.0/8"
    assert client_address("192.0.2.5", "198.51.100.1", trusted) == "192.0.2.5"
    assert client_address("127.0.0.1", "198.51.100.1", trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.2", trusted) == (
        "198.51.100.1"
    )
    assert client_address("127.0.0.1", "10.0.0.3, 10.0.0.2", trusted) == "10.0.0.3"
    assert client_address("127.0.0.1", "not-an-ip", trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", None, trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", "198.51.100.1", "") == "127.0.0.1"


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_login_and_register_refuse_other_origins(
    live: LiveServer, path: str, headers: dict[str, str]
) -> None:
    body = {"email": PATIENT, "password": DEMO_PASSWORD}
    if path.endswith("register"):
        body = {"email": "someone-new@x.test", "password": PASSWORD, "name": "N"}
    with live.client() as c:
        r = c.post(path, json=body, headers=headers)
        assert_problem(r, 403, "forbidden")
        same = c.post(
            "/api/auth/login",
            json={"email": PATIENT, "password": DEMO_PASSWORD},
            headers={"Origin": live.url, "Sec-Fetch-Site": "same-origin"},
        )
    assert same.status_code == 200, same.text


class _Counting(Passwords):
    """Counts the hashes running at once (the hashing itself is argon2's)."""

    def __init__(self, concurrency: int) -> None:
        super().__init__(Passwords.from_settings(Settings()).hasher, concurrency)
        self.running = self.most = 0
        self.lock = threading.Lock()

    def verify(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().verify(password_hash, password)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("concurrency", [1, 2])
def test_hashing_is_bounded_per_worker(concurrency: int) -> None:
    passwords = _Counting(concurrency)
    stored = passwords.hash("a-long-enough-password")

    async def flood() -> list[bool]:
        return await asyncio.gather(
            *(passwords.verify_async(stored, f"guess-{i}") for i in range(16))
        )

    assert not any(asyncio.run(flood()))
    assert passwords.most == concurrency
