"""Session lifetimes again, with the default session cache (30 s): a session checked a moment
ago and served from the cache still ends at its expiry, still times out when idle, and a
deactivated account is refused once the cached check is older than its 30 s. Time moves by
the server's clock, never by sleeping."""

from __future__ import annotations

import datetime as dt

from careslot.accounts.service import token_hash
from tests.api.helpers import assert_problem, query, scalar
from tests.conftest import LiveServer


def _profile(live: LiveServer, token: str) -> tuple[int, str]:
    with live.client(token) as c:
        r = c.get("/api/users/profile")
    return r.status_code, r.headers.get("server-timing", "")


def test_the_cache_is_on_here(live: LiveServer, patient_token: str) -> None:
    assert live.settings.session_cache_seconds == 30
    _profile(live, patient_token)
    assert "l1 hit sessions" in _profile(live, patient_token)[1]


def test_a_cached_session_still_ends_at_its_expiry(live: LiveServer, patient_token: str) -> None:
    expires: dt.datetime = scalar(
        live, "select expires_at from sessions where token_hash = $1", token_hash(patient_token)
    )
    live.clock.set(expires - dt.timedelta(seconds=10))
    assert _profile(live, patient_token)[0] == 200  # checked now, cached for 30 s
    status, timing = _profile(live, patient_token)
    assert status == 200
    assert "l1 hit sessions" in timing
    live.clock.move(dt.timedelta(seconds=15))  # past the expiry, well inside the cache's 30 s
    with live.client(patient_token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")


def test_a_cached_staff_session_times_out_when_idle(live: LiveServer, staff_token: str) -> None:
    assert _profile(live, staff_token)[0] == 200
    live.clock.move(dt.timedelta(minutes=29))
    assert _profile(live, staff_token)[0] == 200  # activity: the idle time starts again
    live.clock.move(dt.timedelta(minutes=29))
    assert _profile(live, staff_token)[0] == 200
    live.clock.move(dt.timedelta(minutes=31))
    with live.client(staff_token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")
    # Revoked for good: the next request a moment later is refused too.
    live.clock.move(dt.timedelta(seconds=1))
    with live.client(staff_token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")


def test_a_cached_patient_session_survives_idling(live: LiveServer, patient_token: str) -> None:
    assert _profile(live, patient_token)[0] == 200
    live.clock.move(dt.timedelta(hours=11))
    assert _profile(live, patient_token)[0] == 200


def test_a_deactivated_account_is_refused_once_its_cached_check_is_old(
    live: LiveServer, patient_token: str
) -> None:
    assert _profile(live, patient_token)[0] == 200
    query(live, "update users set is_active = false where email = 'patient@demo.careslot'")
    # Written behind the cache's back (there is no deactivation API): the cached check may be
    # trusted for at most CARESLOT_SESSION_CACHE_SECONDS.
    live.clock.move(dt.timedelta(seconds=31))
    with live.client(patient_token) as c:
        assert_problem(c.get("/api/users/profile"), 401, "unauthenticated")
