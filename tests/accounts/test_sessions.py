"""Session lifetimes: 12 h absolute for everyone, 30 min idle for staff, revoked for good."""

from __future__ import annotations

import orjson
import pytest

from careslot.accounts import sessions
from careslot.accounts.service import token_hash
from careslot.config import Settings
from tests.api.helpers import assert_problem, query
from tests.conftest import LiveServer, settings_for


@pytest.fixture
def settings(database_url: str) -> Settings:
    """These tests move session clocks in the database behind careslot's back, so they
    check sessions against PostgreSQL on every request (no session cache)."""
    return settings_for(database_url, session_cache_seconds=0)


def _age(live: LiveServer, token: str, column: str, minutes: int) -> None:
    """`minutes` before careslot's now (its clock, not the database's: the two may differ)."""
    query(
        live,
        f"update sessions set {column} = $3::timestamptz - make_interval(mins => $2) "
        "where token_hash = $1",
        token_hash(token),
        minutes,
        live.clock.now(),
    )


def test_expired_session_is_dead(live: LiveServer, patient_token: str) -> None:
    query(
        live,
        "update sessions set expires_at = $2::timestamptz - interval '1 second' "
        "where token_hash = $1",
        token_hash(patient_token),
        live.clock.now(),
    )
    with live.client(patient_token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "email", ["staff@demo.careslot", "admin@demo.careslot", "doctor@demo.careslot"]
)
def test_staff_sessions_time_out_when_idle(live: LiveServer, email: str) -> None:
    token = live.login(email)
    _age(live, token, "last_seen_at", 29)
    with live.client(token) as c:
        assert c.get("/api/users/profile").status_code == 200
    _age(live, token, "last_seen_at", 31)
    with live.client(token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")
        # Revoked, not just refused once: a fresh last_seen_at does not bring it back.
    query(
        live,
        "update sessions set last_seen_at = $2 where token_hash = $1",
        token_hash(token),
        live.clock.now(),
    )
    with live.client(token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")


def test_patient_sessions_survive_idling(live: LiveServer, patient_token: str) -> None:
    _age(live, patient_token, "last_seen_at", 120)
    with live.client(patient_token) as c:
        assert c.get("/api/users/profile").status_code == 200
    seen = query(
        live,
        "select last_seen_at > $2::timestamptz - interval '1 minute' as fresh "
        "from sessions where token_hash = $1",
        token_hash(patient_token),
        live.clock.now(),
    )
    assert seen[0]["fresh"], "activity should move last_seen_at forward"


def test_sessions_end_after_twelve_hours(live: LiveServer, patient_token: str) -> None:
    expires = query(
        live,
        "select expires_at - created_at as life from sessions where token_hash = $1",
        token_hash(patient_token),
    )
    assert expires[0]["life"].total_seconds() == pytest.approx(12 * 3600, abs=5)


def test_tokens_are_stored_hashed(live: LiveServer, patient_token: str) -> None:
    rows = query(live, "select token_hash from sessions")
    assert patient_token.encode() not in {bytes(r["token_hash"]) for r in rows}
    assert token_hash(patient_token) in {bytes(r["token_hash"]) for r in rows}


def test_deactivated_users_lose_their_sessions(live: LiveServer, patient_token: str) -> None:
    query(live, "update users set is_active = false where email = 'patient@demo.careslot'")
    with live.client(patient_token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")
    with live.client() as c:
        r = c.post(
            "/api/auth/login", json={"email": "patient@demo.careslot", "password": "careslot-demo"}
        )
    assert_problem(r, 401, "unauthenticated")


def test_a_cached_session_is_decoded_once_and_the_memo_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions, "DECODED_MAX", 2)
    monkeypatch.setattr(sessions, "_DECODED", {})

    def body(user_id: int) -> bytes:
        return orjson.dumps(
            {
                "id": user_id,
                "email": f"{user_id}@x.test",
                "name": "P",
                "role": "patient",
                "doctorId": None,
                "expiresAt": 1.5,
            }
        )

    first = sessions._decoded(body(1))
    assert sessions._decoded(body(1))[0] is first[0]  # decoded once
    assert first == (sessions.User(1, "1@x.test", "P", sessions.Role.PATIENT, None), 1.5)
    sessions._decoded(body(2))
    sessions._decoded(body(3))  # full: the memo starts again
    assert len(sessions._DECODED) == 1
