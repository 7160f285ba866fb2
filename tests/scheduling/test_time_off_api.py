"""Time off and closures over live appointments: 409 schedule_conflict with their ids and
nothing written; forced, they are cancelled in the same transaction and every cached view
(slots, the patient's list and dashboard) shows it before the answer."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import httpx

from tests.api.helpers import assert_problem, book, query, register, scalar
from tests.conftest import LiveServer
from tests.scheduling.admin_steps import (
    admin,
    at,
    clinic,
    day_after_tomorrow,
    slots,
    staff,
    starts,
    table_counts,
)


def test_time_off_over_a_booking_is_refused_then_forced(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    _, token = register(live, "Tess Timeoff")
    with live.client(token) as patient:
        booked = book(patient, place.doctor_id, at(live, day, 10).isoformat())
        assert booked.status_code == 201, booked.text
        appointment_id = booked.json()["id"]
        # Cache what the change must drop: the patient's list, stats, the slot lists.
        assert patient.get("/api/appointments").json()["items"][0]["status"] == "scheduled"
        assert patient.get("/api/dashboard/stats").json()["data"]["upcomingCount"] == 1
    with live.client() as anyone:
        assert len(slots(anyone, day=day, doctorId=place.doctor_id)) == 5
    period = {
        "start": at(live, day, 9, 30).isoformat(),
        "end": at(live, day, 11).isoformat(),
        "reason": "Conference",
    }
    before = table_counts(live)
    with staff(live) as c:
        r = c.post(f"/api/doctors/{place.doctor_id}/time-off", json=period)
        body = assert_problem(r, 409, "schedule_conflict")
        assert body["conflicts"] == [appointment_id]
        assert table_counts(live) == before

        r = c.post(f"/api/doctors/{place.doctor_id}/time-off?force=true", json=period)
        assert r.status_code == 201, r.text
        assert r.json()["cancelled"] == [appointment_id]
        time_off_id = r.json()["id"]
        listed = c.get(f"/api/doctors/{place.doctor_id}/time-off").json()["items"]
        assert [(t["id"], t["reason"]) for t in listed] == [(time_off_id, "Conference")]

    with live.client(token) as patient:
        assert patient.get("/api/appointments").json()["items"][0]["status"] == "cancelled"
        assert patient.get("/api/dashboard/stats").json()["data"]["upcomingCount"] == 0
        activity = patient.get("/api/activity").json()["items"]
        assert activity[0]["summary"] == "Cancelled: doctor unavailable"
        assert activity[0]["appointmentId"] == appointment_id
    with live.client() as anyone:
        free = starts(slots(anyone, day=day, doctorId=place.doctor_id))
        assert free == [at(live, day, 9), at(live, day, 11), at(live, day, 11, 30)]
    audit = query(
        live,
        "select action, doctor_id from audit_log where entity = 'appointment' "
        "and entity_id = $1 order by id",
        appointment_id,
    )
    assert [tuple(r) for r in audit] == [
        ("create", None),
        ("update:cancelled:doctor_unavailable", place.doctor_id),
    ]
    told = query(
        live,
        "select template from outbox where channel = 'email' and appointment_id = $1 order by id",
        appointment_id,
    )
    templates = [r["template"] for r in told]
    assert templates[0] == "booked"
    assert templates[-1] == "cancelled"  # the patient is told, once
    assert templates.count("cancelled") == 1

    with staff(live) as c:
        r = c.delete(f"/api/doctors/{place.doctor_id}/time-off/{time_off_id}")
        assert r.status_code == 204
    with live.client() as anyone:
        assert len(slots(anyone, day=day, doctorId=place.doctor_id)) == 6


def test_time_off_blocks_the_buffers_of_a_typed_slot(live: LiveServer) -> None:
    """A slot whose after-buffer would run into time off is not offered."""
    place = clinic(live)
    day = day_after_tomorrow(live)
    with admin(live) as c:
        kind = c.post(
            "/api/appointment-types",
            json={
                "departmentId": place.department_id,
                "name": "Scan",
                "minutes": 30,
                "bufferAfterMinutes": 30,
            },
        ).json()
        r = c.post(
            f"/api/doctors/{place.doctor_id}/time-off",
            json={"start": at(live, day, 10, 45).isoformat(), "end": at(live, day, 11).isoformat()},
        )
        assert r.status_code == 201, r.text
    with live.client() as anyone:
        # Scan slots: 9:00 (blocks to 10:00), 10:00 (to 11:00: meets the time off), 11:00.
        assert starts(slots(anyone, day=day, doctorId=place.doctor_id, type_id=kind["id"])) == [
            at(live, day, 9),
            at(live, day, 11),
        ]


def _a_day_nobody_is_booked(live: LiveServer) -> dt.date:
    """The day after tomorrow, or the first day after it with no live appointment. A closure
    covers the whole hospital: the demo hospital's visits (placed from the day the session's
    template was seeded) must not fall on it, as they did when a run crossed midnight."""
    day = day_after_tomorrow(live)
    while scalar(
        live,
        "select count(*) from appointments where status in ('scheduled', 'confirmed') "
        "and starts_at < $2 and ends_at > $1",
        at(live, day, 0),
        at(live, day + dt.timedelta(days=1), 0),
    ):
        day += dt.timedelta(days=1)
    return day


def test_a_closure_cancels_every_doctors_appointments_when_forced(live: LiveServer) -> None:
    first, second = clinic(live), clinic(live)
    day = _a_day_nobody_is_booked(live)
    ids = []
    for place in (first, second):
        _, token = register(live)
        with live.client(token) as patient:
            r = book(patient, place.doctor_id, at(live, day, 11).isoformat())
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    with live.client() as anyone:
        assert len(slots(anyone, day=day, doctorId=first.doctor_id)) == 5  # cached
    closure = {
        "start": at(live, day, 0).isoformat(),
        "end": at(live, day + dt.timedelta(days=1), 0).isoformat(),
        "reason": "Public holiday",
    }
    before = table_counts(live)
    with admin(live) as c:
        body = assert_problem(c.post("/api/closures", json=closure), 409, "schedule_conflict")
        assert sorted(body["conflicts"]) == sorted(ids)
        assert table_counts(live) == before
        r = c.post("/api/closures", params={"force": "true"}, json=closure)
        assert r.status_code == 201, r.text
        assert sorted(r.json()["cancelled"]) == sorted(ids)
        closure_id = r.json()["id"]
    statuses = query(live, "select status from appointments where id = any($1::bigint[])", ids)
    assert {r["status"] for r in statuses} == {"cancelled"}
    with live.client() as anyone:
        assert slots(anyone, day=day, doctorId=first.doctor_id) == []
        listed = anyone.get("/api/closures").json()["items"]
        assert [(c["id"], c["reason"]) for c in listed] == [(closure_id, "Public holiday")]
    with admin(live) as c:
        assert c.delete(f"/api/closures/{closure_id}").status_code == 204
    with live.client() as anyone:
        assert len(slots(anyone, day=day, doctorId=first.doctor_id)) == 6


def test_a_booking_inside_time_off_is_refused(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    with staff(live) as c:
        r = c.post(
            f"/api/doctors/{place.doctor_id}/time-off",
            json={"start": at(live, day, 9).isoformat(), "end": at(live, day, 10).isoformat()},
        )
        assert r.status_code == 201, r.text
    _, token = register(live)
    with live.client(token) as patient:
        assert_problem(book(patient, place.doctor_id, at(live, day, 9).isoformat()), 422)
        assert book(patient, place.doctor_id, at(live, day, 10).isoformat()).status_code == 201


async def _book_and_take_off(
    live: LiveServer, *, patient: str, staff_token: str, doctor_id: int, start: dt.datetime
) -> tuple[int, int]:
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        gate = asyncio.Event()

        async def booking() -> int:
            await gate.wait()
            r = await client.post(
                "/api/appointments",
                json={"doctorId": doctor_id, "start": start.isoformat()},
                headers={"Authorization": f"Bearer {patient}"},
            )
            return r.status_code

        async def time_off() -> int:
            await gate.wait()
            r = await client.post(
                f"/api/doctors/{doctor_id}/time-off",
                json={
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=30)).isoformat(),
                },
                headers={"Authorization": f"Bearer {staff_token}"},
            )
            return r.status_code

        tasks = [asyncio.create_task(booking()), asyncio.create_task(time_off())]
        await asyncio.sleep(0.02)
        gate.set()
        booked, taken = await asyncio.gather(*tasks)
        return booked, taken


def test_a_booking_and_time_off_racing_for_one_slot_never_both_stand(live: LiveServer) -> None:
    """Without the schedule locks a booking and a time off can each miss the other (both
    check, then both commit); with them one of the two always sees the other."""
    place = clinic(live)
    first = day_after_tomorrow(live)
    staff_token = live.login("staff@demo.careslot")
    outcomes: Counter[tuple[int, int]] = Counter()
    for i in range(30):
        _, token = register(live)
        start = at(live, first + dt.timedelta(days=i // 6), 9 + i % 6 // 2, 30 * (i % 2))
        outcomes[
            asyncio.run(
                _book_and_take_off(
                    live,
                    patient=token,
                    staff_token=staff_token,
                    doctor_id=place.doctor_id,
                    start=start,
                )
            )
        ] += 1
    assert set(outcomes) <= {(201, 409), (422, 201)}, outcomes
    clashes = query(
        live,
        """select count(*) from appointments a join time_off t on t.doctor_id = a.doctor_id
           where a.doctor_id = $1 and a.status <> 'cancelled' and a.blocked && t.period""",
        place.doctor_id,
    )
    assert clashes[0][0] == 0


async def _move_and_take_off(
    live: LiveServer,
    *,
    patient: str,
    staff_token: str,
    doctor_id: int,
    appointment_id: int,
    start: dt.datetime,
) -> tuple[httpx.Response, httpx.Response]:
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        gate = asyncio.Event()

        async def move() -> httpx.Response:
            await gate.wait()
            return await client.patch(
                f"/api/appointments/{appointment_id}",
                json={"start": (start + dt.timedelta(minutes=30)).isoformat()},
                headers={"Authorization": f"Bearer {patient}"},
            )

        async def time_off() -> httpx.Response:
            await gate.wait()
            return await client.post(
                f"/api/doctors/{doctor_id}/time-off",
                params={"force": "true"},
                json={
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=30)).isoformat(),
                },
                headers={"Authorization": f"Bearer {staff_token}"},
            )

        tasks = [asyncio.create_task(move()), asyncio.create_task(time_off())]
        await asyncio.sleep(0.02)
        gate.set()
        moved, taken = await asyncio.gather(*tasks)
        return moved, taken


def test_a_reschedule_racing_a_forced_time_off_never_deadlocks(live: LiveServer) -> None:
    """The reschedule takes the doctor's schedule lock before its row lock, in the order a
    forced time off takes them; the other order deadlocks (PostgreSQL aborts one: a 500)."""
    place = clinic(live)
    first = day_after_tomorrow(live)
    staff_token = live.login("staff@demo.careslot")
    outcomes: Counter[tuple[int, int]] = Counter()
    for i in range(24):
        _, token = register(live)
        start = at(live, first + dt.timedelta(days=i // 3), 9 + i % 3)
        with live.client(token) as patient:
            booked = book(patient, place.doctor_id, start.isoformat())
            assert booked.status_code == 201, booked.text
        moved, taken = asyncio.run(
            _move_and_take_off(
                live,
                patient=token,
                staff_token=staff_token,
                doctor_id=place.doctor_id,
                appointment_id=booked.json()["id"],
                start=start,
            )
        )
        outcomes[moved.status_code, taken.status_code] += 1
        assert (moved.status_code, taken.status_code) in {(200, 201), (409, 201)}, (
            moved.text,
            taken.text,
        )
        if moved.status_code == 200:  # moved first: the time off found nothing to cancel
            assert taken.json()["cancelled"] == []
        else:  # cancelled first: a cancelled appointment cannot move
            assert_problem(moved, 409, "invalid_transition")
            assert taken.json()["cancelled"] == [booked.json()["id"]]
    assert sum(outcomes.values()) == 24
