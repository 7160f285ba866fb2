"""A booking is one statement (book_appointment, migration 0009) checked against schedules
kept in process memory. These tests change hours, types and doctors after that copy was
read and show a booking always follows the database, and that the answer built in SQL is
the API's Appointment, byte for byte."""

from __future__ import annotations

import datetime as dt

from tests.api.helpers import assert_problem, book, query, register, scalar
from tests.conftest import LiveServer
from tests.scheduling.admin_steps import admin, at, clinic, day_after_tomorrow, staff
from tests.scheduling.test_types_api import new_type


def test_hours_taken_away_after_a_booking_are_not_booked(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    _, token = register(live)
    with live.client(token) as patient:
        first = book(patient, place.doctor_id, at(live, day, 9).isoformat())
        assert first.status_code == 201, first.text  # the worker now holds these hours
        with staff(live) as c:
            r = c.put(
                f"/api/doctors/{place.doctor_id}/working-hours",
                json={"items": [{"weekday": day.isoweekday(), "start": "09:00", "end": "10:00"}]},
            )
            assert r.status_code == 200, r.text
        assert_problem(
            book(patient, place.doctor_id, at(live, day, 11).isoformat()), 422, "invalid_slot"
        )
        # Hours added are bookable at once, though the copy in memory never had them.
        with staff(live) as c:
            r = c.put(
                f"/api/doctors/{place.doctor_id}/working-hours",
                json={"items": [{"weekday": day.isoweekday(), "start": "09:00", "end": "15:00"}]},
            )
            assert r.status_code == 200, r.text
        late = book(patient, place.doctor_id, at(live, day, 14, 30).isoformat())
        assert late.status_code == 201, late.text


def test_a_doctor_made_inactive_is_not_booked(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    _, token = register(live)
    with live.client(token) as patient:
        assert book(patient, place.doctor_id, at(live, day, 9).isoformat()).status_code == 201
        with admin(live) as c:
            r = c.patch(f"/api/doctors/{place.doctor_id}", json={"isActive": False})
            assert r.status_code == 200, r.text
        assert_problem(book(patient, place.doctor_id, at(live, day, 10).isoformat()), 404)


def test_a_type_made_inactive_or_longer_is_booked_as_it_is_now(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    kind = new_type(live, place, "Check-up", 30)
    _, token = register(live)
    with live.client(token) as patient:
        r = book(patient, place.doctor_id, at(live, day, 9).isoformat(), typeId=kind)
        assert r.status_code == 201, r.text
        with admin(live) as c:
            r = c.patch(f"/api/appointment-types/{kind}", json={"minutes": 60})
            assert r.status_code == 200, r.text
        # A 60-minute type's grid starts on the hour from 09:00: 10:30 is no longer a slot.
        assert_problem(
            book(patient, place.doctor_id, at(live, day, 10, 30).isoformat(), typeId=kind),
            422,
            "invalid_slot",
        )
        longer = book(patient, place.doctor_id, at(live, day, 10).isoformat(), typeId=kind)
        assert longer.status_code == 201, longer.text
        assert longer.json()["end"] == at(live, day, 11).astimezone(dt.UTC).isoformat()
        with admin(live) as c:
            assert c.patch(f"/api/appointment-types/{kind}", json={"active": False}).is_success
        assert_problem(
            book(patient, place.doctor_id, at(live, day, 11).isoformat(), typeId=kind),
            422,
            "unknown_reference",
        )


def test_the_answer_built_in_sql_is_the_apis_appointment(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    _, token = register(live, name='Zoë "Ziggy" O\\Brien 🦒')
    reason = 'Knee \\ "twinge" ça va? 🦵'
    with live.client(token) as patient:
        r = book(patient, place.doctor_id, at(live, day, 9).isoformat(), reason=reason)
        assert r.status_code == 201, r.text
        got = patient.get(f"/api/appointments/{r.json()['id']}")
        assert got.status_code == 200, got.text
    assert r.content == got.content
    assert r.json()["reason"] == reason
    assert r.json()["clientName"] == 'Zoë "Ziggy" O\\Brien 🦒'
    assert r.json()["typeId"] is None


def test_a_replay_answers_what_the_first_booking_answered(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    _, token = register(live)
    body = {"doctorId": place.doctor_id, "start": at(live, day, 9).isoformat()}
    with live.client(token) as patient:
        headers = {"Idempotency-Key": "one-booking"}
        first = patient.post("/api/appointments", json=body, headers=headers)
        assert first.status_code == 201, first.text
        # Later the hours go: a retry still gets its answer and books nothing more.
        with staff(live) as c:
            r = c.put(f"/api/doctors/{place.doctor_id}/working-hours", json={"items": []})
            assert r.status_code == 200, r.text
        again = patient.post("/api/appointments", json=body, headers=headers)
        assert again.status_code == 201, again.text
        assert again.content == first.content
        other = patient.post(
            "/api/appointments", json={**body, "reason": "different"}, headers=headers
        )
        assert_problem(other, 422, "idempotency_key_reused")
    assert (
        scalar(live, "select count(*) from appointments where doctor_id = $1", place.doctor_id) == 1
    )


def test_a_change_answers_the_appointment_as_it_now_is(live: LiveServer) -> None:
    """Status moves and reschedules are one statement too (change_appointment, migration
    0011): the answer is the appointment after the change, as GET shows it."""
    place = clinic(live)
    day = day_after_tomorrow(live)
    _, token = register(live)
    with live.client(token) as patient:
        r = book(patient, place.doctor_id, at(live, day, 9).isoformat())
        assert r.status_code == 201, r.text
        url = f"/api/appointments/{r.json()['id']}"
        moved = patient.patch(url, json={"start": at(live, day, 10).isoformat()})
        assert moved.status_code == 200, moved.text
        assert moved.json()["start"] == at(live, day, 10).astimezone(dt.UTC).isoformat()
        assert moved.content == patient.get(url).content
        cancelled = patient.patch(url, json={"status": "cancelled"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.content == patient.get(url).content
    kinds = [
        r["kind"]
        for r in query(
            live,
            "select kind from activity where appointment_id = $1 order by id",
            r.json()["id"],
        )
    ]
    assert kinds == ["booked", "rescheduled", "cancelled"]
