"""Appointment types: slots of the type's length with room for its buffers, bookings that
carry the type, staff-only types, and buffers the database enforces under a race."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import httpx

from tests.api.helpers import PASSWORD, assert_problem, book, demo_doctor_id, query, register
from tests.conftest import LiveServer
from tests.scheduling.admin_steps import (
    Clinic,
    admin,
    at,
    clinic,
    day_after_tomorrow,
    slots,
    staff,
    starts,
)

RACERS = 50


def new_type(live: LiveServer, place: Clinic, name: str, minutes: int, **extra: Any) -> int:
    with admin(live) as c:
        r = c.post(
            "/api/appointment-types",
            json={"departmentId": place.department_id, "name": name, "minutes": minutes, **extra},
        )
    assert r.status_code == 201, r.text
    type_id: int = r.json()["id"]
    return type_id


def test_typed_slots_have_the_types_length_and_room_for_buffers(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    kind = new_type(live, place, "Consult", 20, bufferBeforeMinutes=10, bufferAfterMinutes=15)
    with live.client() as anyone:
        listed = anyone.get("/api/appointment-types", params={"departmentId": place.department_id})
        assert listed.json()["items"] == [
            {
                "id": kind,
                "departmentId": place.department_id,
                "name": "Consult",
                "minutes": 20,
                "bufferBeforeMinutes": 10,
                "bufferAfterMinutes": 15,
                "patientBookable": True,
                "active": True,
            }
        ]
        free = slots(anyone, day=day, doctorId=place.doctor_id, type_id=kind)
        # 45-minute blocks from 09:00: the slot starts after its 10-minute buffer.
        assert starts(free) == [
            at(live, day, 9, 10),
            at(live, day, 9, 55),
            at(live, day, 10, 40),
            at(live, day, 11, 25),
        ]
        for s in free:
            length = dt.datetime.fromisoformat(s["end"]) - dt.datetime.fromisoformat(s["start"])
            assert length == dt.timedelta(minutes=20)
        untyped = slots(anyone, day=day, doctorId=place.doctor_id)  # cached from here on
        assert len(untyped) == 6

    _, token = register(live)
    with live.client(token) as patient:
        r = book(patient, place.doctor_id, free[0]["start"], typeId=kind)
        assert r.status_code == 201, r.text
        assert (r.json()["typeId"], r.json()["typeName"]) == (kind, "Consult")
        assert r.json()["end"] == free[0]["end"]
        got = patient.get(f"/api/appointments/{r.json()['id']}").json()
        assert (got["typeId"], got["typeName"]) == (kind, "Consult")
    blocked = query(
        live,
        "select lower(blocked), upper(blocked) from appointments where id = $1",
        r.json()["id"],
    )[0]
    assert (blocked[0], blocked[1]) == (at(live, day, 9), at(live, day, 9, 45))
    with live.client() as anyone:
        # The plain 30-minute grid loses 09:00 and 09:30 (the buffers reach 09:45).
        assert starts(slots(anyone, day=day, doctorId=place.doctor_id))[0] == at(live, day, 10)
        assert starts(slots(anyone, day=day, doctorId=place.doctor_id, type_id=kind)) == [
            at(live, day, 9, 55),
            at(live, day, 10, 40),
            at(live, day, 11, 25),
        ]


def test_no_type_is_todays_behaviour(live: LiveServer) -> None:
    doctor = demo_doctor_id(live)
    _, token = register(live)
    with live.client() as anyone:
        day = next(
            d
            for d in (day_after_tomorrow(live) + dt.timedelta(days=i) for i in range(7))
            if slots(anyone, day=d, doctorId=doctor)
        )
        free = slots(anyone, day=day, doctorId=doctor)
    with live.client(token) as patient:
        r = book(patient, doctor, free[0]["start"])
    assert r.status_code == 201, r.text
    assert (r.json()["typeId"], r.json()["typeName"]) == (None, None)
    row = query(
        live,
        "select buffer_before_minutes, buffer_after_minutes, blocked = tstzrange(starts_at, "
        "ends_at, '[)') as plain from appointments where id = $1",
        r.json()["id"],
    )[0]
    assert tuple(row) == (0, 0, True)


def test_staff_only_types_and_types_that_do_not_fit(live: LiveServer) -> None:
    place, other = clinic(live), clinic(live)
    day = day_after_tomorrow(live)
    private = new_type(live, place, "Procedure", 60, patientBookable=False)
    elsewhere = new_type(live, other, "Elsewhere", 30)
    start = at(live, day, 9).isoformat()
    patient_id, token = register(live)
    with live.client(token) as patient:
        assert_problem(book(patient, place.doctor_id, start, typeId=private), 403,
                       "type_not_bookable")  # fmt: skip
        assert_problem(book(patient, place.doctor_id, start, typeId=elsewhere), 422,
                       "type_not_offered")  # fmt: skip
        assert_problem(book(patient, place.doctor_id, start, typeId=999999), 422,
                       "unknown_reference")  # fmt: skip
        assert_problem(book(patient, place.doctor_id, start, typeId=-1), 422, "validation_error")
        off_grid = at(live, day, 9, 30).isoformat()  # 60-minute grid: 09:00, 10:00, 11:00
    with staff(live) as c:
        assert_problem(book(c, place.doctor_id, off_grid, typeId=private, clientId=patient_id),
                       422, "invalid_slot")  # fmt: skip
        r = book(c, place.doctor_id, start, typeId=private, clientId=patient_id)
        assert r.status_code == 201, r.text
        assert r.json()["typeName"] == "Procedure"
    with live.client() as anyone:
        r = anyone.get(
            "/api/slots",
            params={"doctorId": place.doctor_id, "date": day.isoformat(), "typeId": elsewhere},
        )
        assert_problem(r, 422, "type_not_offered")
        r = anyone.get(
            "/api/slots",
            params={"doctorId": place.doctor_id, "date": day.isoformat(), "typeId": 999999},
        )
        assert_problem(r, 422, "unknown_reference")
    # Shorter hours make the procedure fit no window of this doctor: slots say so.
    with staff(live) as c:
        r = c.put(
            f"/api/doctors/{place.doctor_id}/working-hours",
            json={"items": [{"weekday": d, "start": "09:00", "end": "09:45"} for d in range(1, 8)]},
        )
        assert r.status_code == 200, r.text
    with live.client() as anyone:
        r = anyone.get(
            "/api/slots",
            params={"doctorId": place.doctor_id, "date": day.isoformat(), "typeId": private},
        )
        assert_problem(r, 422, "type_too_long")


def test_editing_a_type_changes_its_slots_at_once_and_not_its_bookings(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    kind = new_type(live, place, "Review", 30)
    _, token = register(live)
    with live.client(token) as patient:
        booked = book(patient, place.doctor_id, at(live, day, 9).isoformat(), typeId=kind)
        assert booked.status_code == 201, booked.text
    with live.client() as anyone:
        assert len(slots(anyone, day=day, doctorId=place.doctor_id, type_id=kind)) == 5  # cached
        with admin(live) as c:
            r = c.patch(f"/api/appointment-types/{kind}", json={"bufferAfterMinutes": 30})
            assert r.status_code == 200, r.text
            assert r.json()["bufferAfterMinutes"] == 30
        assert starts(slots(anyone, day=day, doctorId=place.doctor_id, type_id=kind)) == [
            at(live, day, 10),
            at(live, day, 11),
        ]
        with admin(live) as c:
            assert c.patch(f"/api/appointment-types/{kind}", json={"active": False}).is_success
            inactive = c.get("/api/appointment-types", params={"departmentId": place.department_id})
            assert [t["active"] for t in inactive.json()["items"]] == [False]  # admins see it
        listed = anyone.get("/api/appointment-types", params={"departmentId": place.department_id})
        assert listed.json()["items"] == []
        r = anyone.get(
            "/api/slots",
            params={"doctorId": place.doctor_id, "date": day.isoformat(), "typeId": kind},
        )
        assert_problem(r, 422, "unknown_reference")
    row = query(
        live,
        "select buffer_after_minutes, upper(blocked) from appointments where id = $1",
        booked.json()["id"],
    )[0]
    assert tuple(row) == (0, at(live, day, 9, 30))  # booked before the edit: unchanged


async def _register_many(live: LiveServer, count: int) -> list[str]:
    limits = asyncio.Semaphore(10)

    async def one(client: httpx.AsyncClient, i: int) -> str:
        async with limits:
            r = await client.post(
                "/api/auth/register",
                json={"email": f"typed{i}@test.careslot", "password": PASSWORD, "name": f"T{i}"},
            )
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token

    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        return list(await asyncio.gather(*(one(client, i) for i in range(count))))


async def _race(
    live: LiveServer, attempts: list[tuple[str, dict[str, Any]]]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
        gate = asyncio.Event()

        async def one(token: str, body: dict[str, Any]) -> httpx.Response:
            await gate.wait()
            return await client.post(
                "/api/appointments", json=body, headers={"Authorization": f"Bearer {token}"}
            )

        tasks = [asyncio.create_task(one(t, b)) for t, b in attempts]
        await asyncio.sleep(0.05)
        gate.set()
        return list(await asyncio.gather(*tasks))


def test_fifty_bookings_of_overlapping_types_exactly_one_wins(live: LiveServer) -> None:
    """Three types whose appointments do not overlap each other but whose buffers do:
    Long 09:00-09:30 (+30 after), Quick 09:30-09:45 (+15 after), Prepared 09:40-10:00
    (10 before). Only the database can tell, and exactly one may stand."""
    place = clinic(live)
    day = day_after_tomorrow(live)
    long_ = new_type(live, place, "Long", 30, bufferAfterMinutes=30)
    quick = new_type(live, place, "Quick", 15, bufferAfterMinutes=15)
    prepared = new_type(live, place, "Prepared", 20, bufferBeforeMinutes=10)
    choices = [
        {"doctorId": place.doctor_id, "typeId": type_id, "start": at(live, day, *hm).isoformat()}
        for type_id, hm in ((long_, (9, 0)), (quick, (9, 30)), (prepared, (9, 40)))
    ]
    with live.client() as anyone:  # each is a real free slot of its type
        for choice in choices:
            free = slots(anyone, day=day, doctorId=place.doctor_id, type_id=choice["typeId"])
            assert choice["start"] in [s["start"] for s in free]
    tokens = asyncio.run(_register_many(live, RACERS))

    answers = asyncio.run(_race(live, [(t, choices[i % 3]) for i, t in enumerate(tokens)]))

    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 1, 409: RACERS - 1}, statuses
    for r in answers:
        if r.status_code == 409:
            assert_problem(r, 409, "slot_taken")
    live_rows = query(
        live,
        "select count(*) from appointments where doctor_id = $1 and status <> 'cancelled'",
        place.doctor_id,
    )
    assert live_rows[0][0] == 1
