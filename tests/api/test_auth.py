"""Sessions over HTTP: logout kills them, cookies need our origin, failed logins throttle."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.helpers import PASSWORD, assert_problem, register, scalar
from tests.conftest import LiveServer

PATIENT = "patient@demo.careslot"


def test_logout_kills_the_token_server_side(live: LiveServer) -> None:
    token = live.login(PATIENT)
    other = live.login(PATIENT)
    with live.client(token) as c:
        assert c.get("/api/users/profile").json()["email"] == PATIENT
        r = c.post("/api/auth/logout")
        assert r.status_code == 204
        assert "cache" in r.headers["clear-site-data"]
        assert "storage" in r.headers["clear-site-data"]
        assert "no-store" in r.headers["cache-control"]
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")
        assert_problem(c.get("/api/appointments"), 401, "unauthenticated")
        assert_problem(c.post("/api/auth/logout"), 401, "unauthenticated")
    # Only that session died: another sign-in of the same user still works.
    with live.client(other) as c:
        assert c.get("/api/users/profile").status_code == 200
    assert scalar(live, "select count(*) from sessions where revoked_at is not null") == 1


def test_cookie_session_and_its_origin_check(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/api/auth/login", json={"email": PATIENT, "password": "careslot-demo"})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert c.cookies.get("careslot_session") == r.json()["token"]

        # Reads by cookie work with no Origin at all.
        assert c.get("/api/users/profile").json()["email"] == PATIENT
        # A write from another site is refused before anything happens.
        for headers in (
            {"Origin": "https://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            assert_problem(c.post("/api/auth/logout", headers=headers), 403, "forbidden")
            assert_problem(
                c.post(
                    "/api/appointments",
                    headers=headers,
                    json={"doctorId": 1, "start": "2030-01-01T09:00:00Z"},
                ),
                403,
                "forbidden",
            )
            assert_problem(
                c.patch("/api/appointments/1", headers=headers, json={"status": "cancelled"}),
                403,
                "forbidden",
            )
        assert c.get("/api/users/profile").status_code == 200

        # The same write from our own origin goes through.
        r = c.post(
            "/api/auth/logout", headers={"Origin": live.url, "Sec-Fetch-Site": "same-origin"}
        )
        assert r.status_code == 204
        assert "clear-site-data" in r.headers
        assert (
            'careslot_session=""' in r.headers["set-cookie"]
            or "max-age=0" in r.headers["set-cookie"].lower()
        )


def test_bearer_token_needs_no_origin(live: LiveServer) -> None:
    token = live.login(PATIENT)
    with live.client(token) as c:
        r = c.post("/api/auth/logout", headers={"Origin": "https://elsewhere.example"})
    assert r.status_code == 204


def test_ten_failures_lock_the_email_even_for_the_right_password(live: LiveServer) -> None:
    with live.client() as c:
        for i in range(10):
            # Case does not dodge the throttle.
            email = PATIENT.upper() if i % 2 else PATIENT
            r = c.post("/api/auth/login", json={"email": email, "password": f"wrong-{i}"})
            assert_problem(r, 401, "unauthenticated")
        r = c.post("/api/auth/login", json={"email": PATIENT, "password": "careslot-demo"})
        body = assert_problem(r, 429, "rate_limited")
        assert "careslot-demo" not in str(body)
        # Another account is not affected.
        r = c.post(
            "/api/auth/login", json={"email": "patient2@demo.careslot", "password": "careslot-demo"}
        )
        assert r.status_code == 200


def test_the_throttle_window_is_fifteen_minutes(live: LiveServer) -> None:
    """Failures 14 minutes old still count; at 16 minutes they have left the window and the
    right password works again. The server's clock moves; nothing sleeps."""
    with live.client() as c:
        for i in range(10):
            r = c.post("/api/auth/login", json={"email": PATIENT, "password": f"wrong-{i}"})
            assert_problem(r, 401, "unauthenticated")
        live.clock.move(dt.timedelta(minutes=14))
        r = c.post("/api/auth/login", json={"email": PATIENT, "password": "careslot-demo"})
        assert_problem(r, 429, "rate_limited")
        live.clock.move(dt.timedelta(minutes=2))
        r = c.post("/api/auth/login", json={"email": PATIENT, "password": "careslot-demo"})
        assert r.status_code == 200, r.text


def test_unknown_emails_are_throttled_too(live: LiveServer) -> None:
    with live.client() as c:
        for _ in range(10):
            assert_problem(
                c.post(
                    "/api/auth/login",
                    json={"email": "nobody@test.careslot", "password": "whatever1"},
                ),
                401,
            )
        assert_problem(
            c.post(
                "/api/auth/login", json={"email": "nobody@test.careslot", "password": "whatever1"}
            ),
            429,
            "rate_limited",
        )


def test_nine_failures_do_not_lock(live: LiveServer) -> None:
    with live.client() as c:
        for _ in range(9):
            assert_problem(
                c.post("/api/auth/login", json={"email": PATIENT, "password": "wrong-pass"}), 401
            )
        r = c.post("/api/auth/login", json={"email": PATIENT, "password": "careslot-demo"})
    assert r.status_code == 200


def test_register_rules(live: LiveServer) -> None:
    user_id, _ = register(live)
    email = scalar(live, "select email from users where id = $1", user_id)
    stored = scalar(live, "select password_hash from users where id = $1", user_id)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    with live.client() as c:
        r = c.post(
            "/api/auth/register",
            json={"email": email.upper(), "password": PASSWORD, "name": "Twin"},
        )
        assert_problem(r, 409, "email_taken")
        for body in (
            {"email": "not-an-email", "password": PASSWORD, "name": "X"},
            {"email": "a@b.co", "password": "short", "name": "X"},
            {"email": "a@b.co", "password": PASSWORD, "name": ""},
            {"email": "a@b.co", "password": PASSWORD, "name": "   "},
            {"email": "a@b.co", "password": PASSWORD, "name": "X", "role": "admin"},
        ):
            assert_problem(c.post("/api/auth/register", json=body), 422, "validation_error")
    assert (
        scalar(
            live,
            "select count(*) from users where role <> 'patient' and email "
            "not like '%@demo.careslot'",
        )
        == 0
    )


@pytest.mark.parametrize("header", ["Bearer", "Bearer  x y", "Token abc", "bearer"])
def test_malformed_authorization_is_401(live: LiveServer, header: str) -> None:
    with live.client() as c:
        r = c.get("/api/users/profile", headers={"Authorization": header})
    assert_problem(r, 401, "unauthenticated")


def test_a_burst_of_guesses_cannot_beat_the_throttle(live: LiveServer) -> None:
    """Parallel wrong guesses: at most 10 are even tried, the rest are refused unheard."""
    import asyncio

    import httpx

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(
                            "/api/auth/login", json={"email": PATIENT, "password": f"guess-{i:04d}"}
                        )
                        for i in range(40)
                    )
                )
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 10, statuses
    with live.client() as c:
        r = c.post("/api/auth/login", json={"email": PATIENT, "password": "careslot-demo"})
    assert_problem(r, 429, "rate_limited")


def test_sign_in_ignores_spaces_around_the_email(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post(
            "/api/auth/login",
            json={"email": "  patient@demo.careslot ", "password": "careslot-demo"},
        )
    assert r.status_code == 200
    assert r.json()["user"]["email"] == "patient@demo.careslot"
