"""Departments, doctors and working hours over HTTP (SPEC section 8): create, change,
deactivate; who may do what; every change audited and visible at once in cached reads."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_problem, book, demo_doctor_id, query, register
from tests.conftest import LiveServer
from tests.scheduling.admin_steps import (
    EVERY_DAY_9_TO_12,
    admin,
    at,
    clinic,
    day_after_tomorrow,
    fresh_server,
    slots,
    staff,
    starts,
    table_counts,
)


def test_a_new_doctor_is_bookable_at_once_and_deactivation_hides_them(live: LiveServer) -> None:
    with live.client() as anyone:
        before = anyone.get("/api/doctors").json()  # primes the cached list
        place = clinic(live)
        listed = anyone.get("/api/doctors", params={"departmentId": place.department_id}).json()
        assert [d["id"] for d in listed] == [place.doctor_id]
        assert len(anyone.get("/api/doctors").json()) == len(before) + 1
        day = day_after_tomorrow(live)
        free = slots(anyone, day=day, doctorId=place.doctor_id)
        assert starts(free)[:2] == [at(live, day, 9), at(live, day, 9, 30)]
        assert len(free) == 6

    _, token = register(live)
    with live.client(token) as patient:
        booked = book(patient, place.doctor_id, free[0]["start"])
        assert booked.status_code == 201, booked.text

    with admin(live) as c:
        r = c.patch(f"/api/doctors/{place.doctor_id}", json={"isActive": False})
        assert r.status_code == 200, r.text
        assert r.json()["isActive"] is False
    with live.client() as anyone:
        assert place.doctor_id not in [d["id"] for d in anyone.get("/api/doctors").json()]
        r = anyone.get("/api/slots", params={"doctorId": place.doctor_id, "date": day})
        assert_problem(r, 404, "not_found")
    with live.client(token) as patient:  # the live appointment stays
        mine = patient.get(f"/api/appointments/{booked.json()['id']}")
        assert mine.status_code == 200
        assert mine.json()["status"] == "scheduled"
        refused = book(patient, place.doctor_id, free[1]["start"])
        assert_problem(refused, 404, "not_found")


def test_department_deactivation_hides_it_and_its_doctors(live: LiveServer) -> None:
    place = clinic(live)
    with live.client() as anyone:
        assert place.department_id in [d["id"] for d in anyone.get("/api/departments").json()]
    with admin(live) as c:
        r = c.patch(
            f"/api/departments/{place.department_id}",
            json={"isActive": False, "description": "Closed for good"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["description"] == "Closed for good"
    with live.client() as anyone:
        assert place.department_id not in [d["id"] for d in anyone.get("/api/departments").json()]
        assert place.doctor_id not in [d["id"] for d in anyone.get("/api/doctors").json()]


def test_working_hours_round_trip_and_conflicts_stay_booked(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    _, token = register(live)
    with live.client(token) as patient:
        late = book(patient, place.doctor_id, at(live, day, 11, 30).isoformat())
        assert late.status_code == 201, late.text
    week = [{"weekday": d, "start": "09:00", "end": "11:00"} for d in range(1, 8)]
    week.append({"weekday": 1, "start": "14:00", "end": "16:30"})
    with staff(live) as c:
        r = c.put(f"/api/doctors/{place.doctor_id}/working-hours", json={"items": week})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["conflicts"] == [late.json()["id"]]
        assert len(body["items"]) == 8
        got = c.get(f"/api/doctors/{place.doctor_id}/working-hours").json()
        assert got["items"] == body["items"]
        assert {"weekday": 1, "start": "14:00", "end": "16:30"} in got["items"]
    with live.client(token) as patient:
        assert patient.get(f"/api/appointments/{late.json()['id']}").json()["status"] == (
            "scheduled"
        )


def test_slots_follow_new_hours_at_once(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    with live.client() as anyone:
        assert len(slots(anyone, day=day, doctorId=place.doctor_id)) == 6  # cached now
        assert len(slots(anyone, day=day, departmentId=place.department_id)) == 6
        with staff(live) as c:
            r = c.put(
                f"/api/doctors/{place.doctor_id}/working-hours",
                json={"items": [{"weekday": day.isoweekday(), "start": "10:00", "end": "11:00"}]},
            )
            assert r.status_code == 200, r.text
        assert starts(slots(anyone, day=day, doctorId=place.doctor_id)) == [
            at(live, day, 10),
            at(live, day, 10, 30),
        ]
        assert len(slots(anyone, day=day, departmentId=place.department_id)) == 2


def test_who_may_do_what(live: LiveServer) -> None:
    place = clinic(live)
    own = demo_doctor_id(live)  # doctor@demo.careslot is Dr. Amara Okafor
    _, patient_token = register(live)
    hours = {"items": EVERY_DAY_9_TO_12}
    with live.client(live.login("doctor@demo.careslot")) as doctor:
        assert doctor.get(f"/api/doctors/{own}/working-hours").status_code == 200
        assert doctor.get(f"/api/doctors/{own}/time-off").status_code == 200
        assert_problem(doctor.get(f"/api/doctors/{place.doctor_id}/working-hours"), 403)
        assert_problem(doctor.put(f"/api/doctors/{own}/working-hours", json=hours), 403)
    with live.client(patient_token) as patient:
        assert_problem(patient.get(f"/api/doctors/{own}/working-hours"), 403)
        assert_problem(patient.post("/api/departments", json={"name": "Nope"}), 403)
    with staff(live) as c:
        assert c.put(f"/api/doctors/{own}/working-hours", json=hours).status_code == 200
        period = {"start": "2099-01-01T00:00:00+00:00", "end": "2099-01-02T00:00:00+00:00"}
        assert c.post(f"/api/doctors/{own}/time-off", json=period).status_code == 201
        for method, path, body in (
            ("POST", "/api/departments", {"name": "Staff Dept"}),
            ("PATCH", f"/api/departments/{place.department_id}", {"name": "Renamed"}),
            ("POST", "/api/doctors", {"name": "Dr. X", "departmentId": place.department_id}),
            ("PATCH", f"/api/doctors/{place.doctor_id}", {"isActive": False}),
            ("POST", "/api/closures", {**period, "reason": "Holiday"}),
            (
                "POST",
                "/api/appointment-types",
                {"departmentId": place.department_id, "name": "T", "minutes": 20},
            ),
        ):
            assert_problem(c.request(method, path, json=body), 403, "forbidden")
    with live.client() as anyone:
        assert_problem(anyone.put(f"/api/doctors/{own}/working-hours", json=hours), 401)
        assert anyone.get("/api/closures").status_code == 200
        assert anyone.get("/api/appointment-types").status_code == 200


def test_every_admin_change_is_audited_with_its_doctor(live: LiveServer) -> None:
    place = clinic(live)
    admin_id = query(live, "select id from users where email = 'admin@demo.careslot'")[0][0]
    with staff(live) as c:
        r = c.post(
            f"/api/doctors/{place.doctor_id}/time-off",
            json={"start": "2099-01-01T00:00:00+00:00", "end": "2099-01-02T00:00:00+00:00"},
        )
        time_off_id = r.json()["id"]
        assert c.delete(f"/api/doctors/{place.doctor_id}/time-off/{time_off_id}").status_code == (
            204
        )
    staff_id = query(live, "select id from users where email = 'staff@demo.careslot'")[0][0]
    rows = query(
        live,
        "select actor_id, action, entity, entity_id, doctor_id from audit_log "
        "where entity in ('department', 'doctor', 'working_hours', 'time_off') order by id",
    )
    seen = [(r["actor_id"], r["action"], r["entity"], r["doctor_id"]) for r in rows]
    assert seen == [
        (admin_id, "create", "department", None),
        (admin_id, "create", "doctor", place.doctor_id),
        (admin_id, "replace", "working_hours", place.doctor_id),
        (staff_id, "create", "time_off", place.doctor_id),
        (staff_id, "delete", "time_off", place.doctor_id),
    ]
    assert rows[3]["entity_id"] == time_off_id


BAD = [
    # (method, path (with {doctor}/{department}), body, status, code)
    ("PUT", "/api/doctors/{doctor}/working-hours",
     {"items": [{"weekday": 1, "start": "10:00", "end": "09:00"}]}, 422, "invalid_schedule"),
    ("PUT", "/api/doctors/{doctor}/working-hours",
     {"items": [{"weekday": 1, "start": "10:00", "end": "10:00"}]}, 422, "invalid_schedule"),
    ("PUT", "/api/doctors/{doctor}/working-hours",
     {"items": [{"weekday": 2, "start": "09:00", "end": "12:00"},
                {"weekday": 2, "start": "11:30", "end": "13:00"}]}, 422, "invalid_schedule"),
    ("PUT", "/api/doctors/{doctor}/working-hours",
     {"items": [{"weekday": 8, "start": "09:00", "end": "12:00"}]}, 422, "validation_error"),
    ("PUT", "/api/doctors/{doctor}/working-hours",
     {"items": [{"weekday": 1, "start": "9am", "end": "12:00"}]}, 422, "validation_error"),
    ("PUT", "/api/doctors/{doctor}/working-hours",
     {"items": [{"weekday": 1, "start": "24:00", "end": "24:30"}]}, 422, "validation_error"),
    ("PUT", "/api/doctors/999999/working-hours", {"items": []}, 404, "not_found"),
    ("POST", "/api/doctors/999999/time-off",
     {"start": "2099-01-01T00:00:00+00:00", "end": "2099-01-02T00:00:00+00:00"}, 404, "not_found"),
    ("POST", "/api/doctors/{doctor}/time-off",
     {"start": "2099-01-02T00:00:00+00:00", "end": "2099-01-01T00:00:00+00:00"}, 422,
     "invalid_period"),
    ("POST", "/api/doctors/{doctor}/time-off",
     {"start": "2099-01-01T00:00:00", "end": "2099-01-02T00:00:00"}, 422, "validation_error"),
    ("POST", "/api/closures", {"start": "2099-01-01T00:00:00+00:00",
     "end": "2099-01-01T00:00:00+00:00", "reason": "x"}, 422, "invalid_period"),
    ("POST", "/api/closures", {"start": "0001-01-01T00:00:00+14:00",
     "end": "0001-01-02T00:00:00+00:00", "reason": "x"}, 422, "invalid_period"),
    ("POST", "/api/doctors/{doctor}/time-off", {"start": "2099-12-31T00:00:00+00:00",
     "end": "9999-12-31T23:59:59-12:00"}, 422, "invalid_period"),
    ("DELETE", "/api/closures/999999", None, 404, "not_found"),
    ("DELETE", "/api/doctors/{doctor}/time-off/999999", None, 404, "not_found"),
    ("POST", "/api/doctors", {"name": "Dr. Nobody", "departmentId": 999999}, 422,
     "unknown_reference"),
    ("PATCH", "/api/doctors/{doctor}", {"departmentId": 999999}, 422, "unknown_reference"),
    ("PATCH", "/api/doctors/{doctor}", {"name": None}, 422, "validation_error"),
    ("PATCH", "/api/doctors/999999", {"name": "Ghost"}, 404, "not_found"),
    ("POST", "/api/doctors", {"name": "Dr. Slow", "departmentId": 1, "slotMinutes": 500}, 422,
     "validation_error"),
    ("POST", "/api/departments", {"name": "Cardiology"}, 409, "name_taken"),
    ("POST", "/api/departments", {"name": "Red", "color": "red"}, 422, "validation_error"),
    ("PATCH", "/api/departments/999999", {"name": "Ghost"}, 404, "not_found"),
    ("POST", "/api/appointment-types", {"departmentId": 999999, "name": "T", "minutes": 20},
     422, "unknown_reference"),
    ("POST", "/api/appointment-types", {"departmentId": "{department}", "name": "T",
     "minutes": 20, "bufferBeforeMinutes": -5}, 422, "validation_error"),
    ("POST", "/api/appointment-types", {"departmentId": "{department}", "name": "Long",
     "minutes": 200}, 422, "type_too_long"),
    ("POST", "/api/appointment-types", {"departmentId": "{department}", "name": "Padded",
     "minutes": 120, "bufferAfterMinutes": 61}, 422, "type_too_long"),
    ("PATCH", "/api/appointment-types/999999", {"name": "Ghost"}, 404, "not_found"),
]  # fmt: skip


def _fill(value: object, place: object) -> object:
    if isinstance(value, str):
        return value.format(doctor=place.doctor_id, department=place.department_id)  # type: ignore[attr-defined]
    if isinstance(value, dict):
        filled = {k: _fill(v, place) for k, v in value.items()}
        return {k: int(v) if k == "departmentId" and isinstance(v, str) else v
                for k, v in filled.items()}  # fmt: skip
    if isinstance(value, list):
        return [_fill(v, place) for v in value]
    return value


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD)
def test_bad_input_is_a_4xx_and_writes_nothing(
    live: LiveServer, method: str, path: str, body: object, status: int, code: str
) -> None:
    place = clinic(live)  # 09:00-12:00: a 180-minute window at most
    before = table_counts(live)
    with admin(live) as c:
        r = c.request(method, str(_fill(path, place)), json=_fill(body, place))
    assert_problem(r, status, code)
    assert table_counts(live) == before


def test_dst_gap_wall_times_are_refused(admin_url: str, template_url: str) -> None:
    """In New York the clocks skip 02:00-03:00 on a Sunday in March: a Sunday window that
    starts or ends inside it is refused; the same hours on a Monday are fine."""
    with fresh_server(admin_url, template_url, timezone="America/New_York") as live:
        doctor = demo_doctor_id(live)
        with staff(live) as c:
            before = c.get(f"/api/doctors/{doctor}/working-hours").json()
            for start, end in (("02:30", "06:00"), ("00:30", "02:15")):
                r = c.put(
                    f"/api/doctors/{doctor}/working-hours",
                    json={"items": [{"weekday": 7, "start": start, "end": end}]},
                )
                body = assert_problem(r, 422, "invalid_schedule")
                assert body["problem"] == "dst_gap"
            assert c.get(f"/api/doctors/{doctor}/working-hours").json() == before
            for weekday, start, end in ((1, "02:30", "06:00"), (7, "01:00", "04:00")):
                r = c.put(
                    f"/api/doctors/{doctor}/working-hours",
                    json={"items": [{"weekday": weekday, "start": start, "end": end}]},
                )
                assert r.status_code == 200, r.text


def test_a_renamed_doctor_shows_in_cached_appointment_lists_at_once(live: LiveServer) -> None:
    place = clinic(live)
    _, token = register(live)
    with live.client(token) as patient:
        r = book(patient, place.doctor_id, at(live, day_after_tomorrow(live), 9).isoformat())
        assert r.status_code == 201, r.text
        assert (
            patient.get("/api/appointments").json()["items"][0]["doctorName"].startswith("Dr. Test")
        )  # cached now
        with admin(live) as c:
            assert c.patch(
                f"/api/doctors/{place.doctor_id}", json={"name": "Dr. Renamed"}
            ).is_success
            assert c.patch(
                f"/api/departments/{place.department_id}", json={"color": "#123456"}
            ).is_success
        item = patient.get("/api/appointments").json()["items"][0]
        assert (item["doctorName"], item["departmentColor"]) == ("Dr. Renamed", "#123456")


def _exactly(r: httpx.Response, status: int, expected: dict[str, Any]) -> None:
    """The answer is `expected` to the byte: same keys, same order, same values."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body == expected
    assert list(body) == list(expected)
    assert r.content == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()


def test_answers_keep_their_wire_shape(live: LiveServer) -> None:
    """SPEC section 8 as outside clients read it: department, doctor and working-hours
    answers, byte for byte (a refactoring of the shapes behind them must not show)."""
    own = demo_doctor_id(live)
    doctor_user = query(live, "select id from users where email = 'doctor@demo.careslot'")[0][0]
    with admin(live) as c:
        r = c.post(
            "/api/departments",
            json={"name": "Clinique Été", "color": "#aabbcc", "description": "Wire"},
        )
        dep = r.json()["id"]
        department = {
            "id": dep,
            "name": "Clinique Été",
            "color": "#aabbcc",
            "description": "Wire",
            "isActive": True,
        }
        _exactly(r, 201, department)
        r = c.patch(f"/api/departments/{dep}", json={"name": "Clinique 2", "isActive": False})
        _exactly(r, 200, {**department, "name": "Clinique 2", "isActive": False})
        r = c.patch(f"/api/departments/{dep}", json={"isActive": True})
        _exactly(r, 200, {**department, "name": "Clinique 2"})

        # The demo doctor's account moves to the new doctor, so userId is a number once.
        assert c.patch(f"/api/doctors/{own}", json={"userId": None}).json()["userId"] is None
        r = c.post(
            "/api/doctors",
            json={"name": "Dr. Wire", "departmentId": dep, "userId": doctor_user},
        )
        doc = r.json()["id"]
        doctor = {
            "id": doc,
            "name": "Dr. Wire",
            "departmentId": dep,
            "departmentName": "Clinique 2",
            "specialty": "",
            "slotMinutes": 30,
            "userId": doctor_user,
            "isActive": True,
        }
        _exactly(r, 201, doctor)
        r = c.patch(
            f"/api/doctors/{doc}",
            json={"specialty": "Knees", "slotMinutes": 20, "userId": None, "isActive": False},
        )
        changed = {**doctor, "specialty": "Knees", "slotMinutes": 20, "userId": None}
        _exactly(r, 200, {**changed, "isActive": False})
        r = c.patch(f"/api/doctors/{doc}", json={"isActive": True, "slotMinutes": 30})
        _exactly(r, 200, {**changed, "slotMinutes": 30})

        hours = f"/api/doctors/{doc}/working-hours"
        _exactly(c.get(hours), 200, {"doctorId": doc, "items": []})
        r = c.put(hours, json={"items": EVERY_DAY_9_TO_12})
        _exactly(r, 200, {"doctorId": doc, "items": EVERY_DAY_9_TO_12, "conflicts": []})

    _, token = register(live)
    with live.client(token) as patient:
        late = book(patient, doc, at(live, day_after_tomorrow(live), 11, 30).isoformat())
        assert late.status_code == 201, late.text
    week = [
        {"weekday": 3, "start": "14:00", "end": "16:30"},
        {"weekday": 1, "start": "09:05", "end": "11:00"},
        *({"weekday": d, "start": "08:00", "end": "11:00"} for d in range(2, 8)),
    ]
    in_order = sorted(week, key=lambda w: (w["weekday"], w["start"]))
    with staff(live) as c:
        r = c.put(hours, json={"items": week})
        _exactly(r, 200, {"doctorId": doc, "items": in_order, "conflicts": [late.json()["id"]]})
        _exactly(c.get(hours), 200, {"doctorId": doc, "items": in_order})
