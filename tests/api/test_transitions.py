"""Every status move, allowed and refused, as SPEC section 2 lists them."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from careslot.config import Settings
from tests.api.helpers import assert_problem, demo_doctor_id, register, scalar
from tests.conftest import LiveServer, _admin, serve_in_thread, with_database

STATUSES = ("scheduled", "confirmed", "checked_in", "completed", "cancelled", "no_show")
ALLOWED = {
    ("scheduled", "confirmed"),
    ("scheduled", "cancelled"),
    ("scheduled", "checked_in"),
    ("scheduled", "no_show"),
    ("confirmed", "cancelled"),
    ("confirmed", "checked_in"),
    ("confirmed", "no_show"),
    ("checked_in", "completed"),
    ("checked_in", "no_show"),
}
PAIRS = list(itertools.product(STATUSES, STATUSES))
_hours = itertools.count()

Make = Callable[..., int]


@pytest.fixture(scope="module")
def patient(module_live: LiveServer) -> tuple[int, str]:
    return register(module_live, name="Transition Patient")


@pytest.fixture(scope="module")
def staff(module_live: LiveServer) -> str:
    return module_live.login("staff@demo.careslot")


# How to reach each status through the API from "scheduled" (staff moves).
PATHS = {
    "scheduled": [],
    "confirmed": ["confirmed"],
    "checked_in": ["checked_in"],
    "completed": ["checked_in", "completed"],
    "cancelled": ["cancelled"],
    "no_show": ["no_show"],
}


@pytest.fixture(scope="module")
def module_live(admin_url: str, template_url: str) -> Iterator[LiveServer]:
    """As tests/api/conftest.py's, but one patient may hold every case's appointment."""
    template = urlsplit(template_url).path.lstrip("/")
    name = f"careslot_m_{os.getpid()}_transitions"
    asyncio.run(_admin(admin_url, f"create database {name} template {template}"))
    url = with_database(admin_url, name)
    yield from serve_in_thread(
        Settings(database_url=url, redis_url=None, max_future_appointments=10_000)
    )
    asyncio.run(_admin(admin_url, f"drop database if exists {name} with (force)"))


@pytest.fixture(scope="module")
def make(module_live: LiveServer, patient: tuple[int, str]) -> Make:
    """An appointment in the given status, in the past or the future, made through the API
    (booked by staff, then moved): the past by moving the server's clock back to book it,
    and past its start for a no-show, then back to now."""
    live = module_live
    doctor_id = demo_doctor_id(live)
    real = live.clock.now()
    free: dict[bool, list[str]] = {}
    for past, offset in ((True, -45), (False, 30)):
        first = (real + dt.timedelta(days=offset)).date()
        if past:
            live.clock.set(real + dt.timedelta(days=offset - 2))
        with live.client() as c:
            r = c.get(
                "/api/slots",
                params={
                    "doctorId": doctor_id,
                    "from": first.isoformat(),
                    "to": (first + dt.timedelta(days=14)).isoformat(),
                },
            )
        assert r.status_code == 200, r.text
        free[past] = [slot["start"] for slot in r.json()["slots"]]
    live.clock.set(real)

    def make_one(status: str, *, past: bool, client_id: int | None = None) -> int:
        start = free[past].pop(0)
        moment = dt.datetime.fromisoformat(start)
        if past:
            live.clock.set(moment - dt.timedelta(days=1))  # a day before: bookable
        # A session of that moment (a session touched in the moved past would look idle).
        with live.client(live.login("staff@demo.careslot")) as c:
            r = c.post(
                "/api/appointments",
                json={"doctorId": doctor_id, "start": start, "clientId": client_id or patient[0]},
            )
            assert r.status_code == 201, r.text
            appointment_id: int = r.json()["id"]
            if status == "no_show":
                live.clock.set(moment + dt.timedelta(minutes=1))  # a no-show is after the start
                c.headers["Authorization"] = f"Bearer {live.login('staff@demo.careslot')}"
            for step in PATHS[status]:
                moved = c.patch(f"/api/appointments/{appointment_id}", json={"status": step})
                assert moved.status_code == 200, moved.text
            c.post("/api/auth/logout")
        live.clock.offset = dt.timedelta()
        return appointment_id

    return make_one


def _status(live: LiveServer, appointment_id: int) -> str:
    status: str = scalar(live, "select status from appointments where id = $1", appointment_id)
    return status


@pytest.mark.parametrize("when", ["future", "past"])
@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_staff_moves(
    module_live: LiveServer, make: Make, staff: str, current: str, target: str, when: str
) -> None:
    token = staff
    appointment_id = make(current, past=when == "past")
    allowed = (current, target) in ALLOWED and not (target == "no_show" and when == "future")
    with module_live.client(token) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"status": target})
    if allowed:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == target
        assert _status(module_live, appointment_id) == target
        kinds = scalar(
            module_live,
            "select array_agg(kind order by id) from activity where appointment_id = $1",
            appointment_id,
        )
        assert kinds[-1] == target
        assert len(kinds) == 2 + len(PATHS[current])  # booked, the set-up moves, this one
    else:
        assert_problem(r, 409, "invalid_transition")
        assert _status(module_live, appointment_id) == current
        kinds = scalar(
            module_live,
            "select array_agg(kind order by id) from activity where appointment_id = $1",
            appointment_id,
        )
        assert len(kinds) == 1 + len(PATHS[current])  # nothing written


@pytest.mark.parametrize("when", ["future", "past"])
@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_patient_may_only_cancel_own_future(
    module_live: LiveServer,
    make: Make,
    patient: tuple[int, str],
    current: str,
    target: str,
    when: str,
) -> None:
    appointment_id = make(current, past=when == "past")
    allowed = (current, target) in ALLOWED and target == "cancelled" and when == "future"
    with module_live.client(patient[1]) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"status": target})
    if allowed:
        assert r.status_code == 200, r.text
        assert _status(module_live, appointment_id) == "cancelled"
    else:
        assert_problem(r, 409, "invalid_transition")
        assert _status(module_live, appointment_id) == current


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_doctor_moves_own_appointments(
    module_live: LiveServer, make: Make, current: str, target: str
) -> None:
    token = module_live.login("doctor@demo.careslot")
    appointment_id = make(current, past=True)
    with module_live.client(token) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"status": target})
    assert r.status_code == 200, r.text
    assert _status(module_live, appointment_id) == target


@pytest.mark.parametrize("current", STATUSES)
def test_reschedule_only_scheduled_or_confirmed(
    module_live: LiveServer, make: Make, current: str
) -> None:
    from tests.api.helpers import free_slots

    token = module_live.login("staff@demo.careslot")
    appointment_id = make(current, past=False)
    slot = free_slots(module_live, demo_doctor_id(module_live))[0]
    with module_live.client(token) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"start": slot["start"]})
    if current in ("scheduled", "confirmed"):
        assert r.status_code == 200, r.text
        # Cancel it so the slot stays free for the next case.
        with module_live.client(token) as c:
            cancelled = c.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"})
        assert cancelled.status_code == 200, cancelled.text
    else:
        assert_problem(r, 409, "invalid_transition")


def test_patient_cannot_reschedule_the_past(
    module_live: LiveServer, make: Make, patient: tuple[int, str]
) -> None:
    from tests.api.helpers import free_slots

    appointment_id = make("scheduled", past=True)
    slot = free_slots(module_live, demo_doctor_id(module_live))[0]
    with module_live.client(patient[1]) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"start": slot["start"]})
    assert_problem(r, 409, "invalid_transition")


@pytest.mark.parametrize(
    "body",
    [
        {"status": "bogus"},
        {"status": "cancelled", "start": None},
        {},
        {"status": None},
        {"status": "SCHEDULED"},
    ],
)
def test_patch_needs_one_known_change(
    module_live: LiveServer, make: Make, body: dict[str, object]
) -> None:
    token = module_live.login("staff@demo.careslot")
    appointment_id = make("scheduled", past=False)
    with module_live.client(token) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json=body)
    if body == {"status": "cancelled", "start": None}:
        assert r.status_code == 200, r.text  # an explicit null is the same as leaving it out
    else:
        assert_problem(r, 422, "validation_error")
        assert _status(module_live, appointment_id) == "scheduled"
