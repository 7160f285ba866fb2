"""Bad input and other people's entries: clear problem+json, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.helpers import assert_problem, register
from tests.conftest import LiveServer
from tests.waitlist import steps


def _today(live: LiveServer) -> dt.date:
    return dt.datetime.now(live.settings.zone).date()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"doctorId": 999999, "from": 1, "to": 1}, 404, "not_found"),
        ({"departmentId": 999999, "from": 1, "to": 1}, 404, "not_found"),
        ({"from": 1, "to": 1}, 422, "validation_error"),  # neither doctor nor department
        ({"doctorId": "D", "departmentId": "P", "from": 1, "to": 1}, 422, "validation_error"),
        ({"doctorId": "D", "from": 3, "to": 1}, 422, "validation_error"),  # from > to
        ({"doctorId": "D", "from": 1, "to": 40}, 422, "validation_error"),  # too long
        ({"doctorId": "D", "from": -5, "to": -2}, 422, "validation_error"),  # past
        ({"doctorId": "D", "from": 200, "to": 201}, 422, "validation_error"),  # past horizon
        ({"doctorId": "D", "from": "soon", "to": 1}, 422, "validation_error"),
        ({"doctorId": "D", "from": 1, "to": 1, "typeId": 999999}, 422, "unknown_reference"),
        ({"doctorId": "D", "from": 1, "to": 1, "clientId": 999999}, 403, "forbidden"),
        ({"doctorId": "D", "from": 1, "to": 1, "extra": 1}, 422, "validation_error"),
    ],
)
def test_bad_entries_are_refused(
    live: LiveServer, patient_token: str, body: dict[str, object], status: int, code: str
) -> None:
    doctor = steps.demo_doctor_id(live)
    department = steps.scalar(live, "select department_id from doctors where id = $1", doctor)
    today = _today(live)
    sent = {
        k: (
            (today + dt.timedelta(days=v)).isoformat()
            if k in {"from", "to"} and isinstance(v, int)
            else doctor
            if v == "D"
            else department
            if v == "P"
            else v
        )
        for k, v in body.items()
    }
    with live.client(patient_token) as c:
        assert_problem(c.post("/api/waitlist", json=sent), status, code)


def test_duplicates_limits_roles_and_other_peoples_entries(live: LiveServer) -> None:
    doctor = steps.demo_doctor_id(live)
    day = (_today(live) + dt.timedelta(days=2)).isoformat()
    body = {"doctorId": doctor, "from": day, "to": day}
    _, mine = register(live, "Mine")
    _, theirs = register(live, "Theirs")
    with live.client(mine) as c:
        r = c.post("/api/waitlist", json=body)
        assert r.status_code == 201, r.text
        entry = r.json()
        assert_problem(c.post("/api/waitlist", json=body), 409, "waitlist_duplicate")
        assert_problem(c.post(f"/api/waitlist/{entry['id']}/accept"), 409, "offer_gone")
        assert_problem(c.post(f"/api/waitlist/{entry['id']}/decline"), 409, "offer_gone")
    with live.client(theirs) as c:
        assert c.get("/api/waitlist").json()["items"] == []
        for path in ("accept", "decline"):
            assert_problem(c.post(f"/api/waitlist/{entry['id']}/{path}"), 404, "not_found")
        assert_problem(c.delete(f"/api/waitlist/{entry['id']}"), 404, "not_found")
        assert_problem(c.post("/api/waitlist/999999/accept"), 404, "not_found")
    doctor_token = live.login("doctor@demo.careslot")
    with live.client(doctor_token) as c:
        assert_problem(c.post("/api/waitlist", json=body), 403, "forbidden")
        assert_problem(c.get("/api/waitlist"), 403, "forbidden")
    with live.client() as c:
        assert_problem(c.get("/api/waitlist"), 401, "unauthenticated")
    staff = live.login("staff@demo.careslot")
    with live.client(staff) as c:
        assert [
            e["id"] for e in c.get("/api/waitlist", params={"doctorId": doctor}).json()["items"]
        ] == [entry["id"]]
        assert_problem(c.post("/api/waitlist", json=body), 422, "validation_error")  # clientId
    with live.client(mine) as c:
        assert c.delete(f"/api/waitlist/{entry['id']}").status_code == 204
        assert c.get("/api/waitlist").json()["items"] == []
        assert_problem(c.delete(f"/api/waitlist/{entry['id']}"), 404, "not_found")
        assert c.post("/api/waitlist", json=body).status_code == 201  # may join again


def test_a_hold_is_no_appointment_to_anyone(live: LiveServer) -> None:
    freed = steps.booked_slot(live)
    _, waiting = register(live, "Waiting")
    joined = steps.join(live, waiting, freed)
    steps.cancel(live, freed)
    steps.offered(live, waiting, joined["id"])
    (hold,) = steps.holds(live)
    staff = live.login("staff@demo.careslot")
    for token in (waiting, staff):
        with live.client(token) as c:
            assert_problem(c.get(f"/api/appointments/{hold['id']}"), 404, "not_found")
            assert_problem(
                c.patch(f"/api/appointments/{hold['id']}", json={"status": "cancelled"}),
                404,
                "not_found",
            )
            assert hold["id"] not in [a["id"] for a in c.get("/api/appointments").json()["items"]]
    with live.client(waiting) as c:
        stats = c.get("/api/dashboard/stats").json()["data"]
    assert stats["upcomingCount"] == 0
    assert stats["totalMonthCount"] == 0
    assert stats["recentAppointments"] == []
