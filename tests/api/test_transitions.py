"""Every status move, allowed and refused, as SPEC section 2 lists them."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

import pytest

from tests.api.helpers import assert_problem, demo_doctor_id, query, register, scalar
from tests.conftest import LiveServer

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


@pytest.fixture(scope="module")
def make(module_live: LiveServer, patient: tuple[int, str]) -> Make:
    """Insert an appointment straight into the database, in the past or the future."""
    doctor_id = demo_doctor_id(module_live)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)

    def make_one(status: str, *, past: bool, client_id: int | None = None) -> int:
        hours = dt.timedelta(days=30, hours=next(_hours))
        start = now - hours if past else now + hours
        rows = query(
            module_live,
            """insert into appointments (client_id, doctor_id, department_id, starts_at,
                                         ends_at, status)
               select $1, d.id, d.department_id, $3, $4, $5 from doctors d where d.id = $2
               returning id""",
            client_id or patient[0],
            doctor_id,
            start,
            start + dt.timedelta(minutes=30),
            status,
        )
        appointment_id: int = rows[0]["id"]
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
            "select array_agg(kind) from activity where appointment_id = $1",
            appointment_id,
        )
        assert kinds == [target]
    else:
        assert_problem(r, 409, "invalid_transition")
        assert _status(module_live, appointment_id) == current


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
        # Put it back where it was so the slot stays free for the next case.
        query(
            module_live,
            "update appointments set status = 'cancelled' where id = $1",
            appointment_id,
        )
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
