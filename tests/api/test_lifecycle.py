"""A patient's whole booking lifecycle over real HTTP, checked everywhere it shows."""

from __future__ import annotations

import datetime as dt

from tests.api.helpers import (
    assert_problem,
    book,
    demo_doctor_id,
    free_slots,
    instant,
    register,
    scalar,
)
from tests.conftest import LiveServer

APPOINTMENT_KEYS = {
    "id",
    "clientId",
    "clientName",
    "doctorId",
    "doctorName",
    "departmentId",
    "departmentName",
    "departmentColor",
    "start",
    "end",
    "status",
    "reason",
    "createdAt",
    "updatedAt",
    "typeId",  # null without a type (SPEC section 8)
    "typeName",
}


def _slot_starts(live: LiveServer, doctor_id: int) -> set[dt.datetime]:
    return {instant(s["start"]) for s in free_slots(live, doctor_id)}


def test_book_see_reschedule_cancel(live: LiveServer) -> None:
    patient_id, token = register(live, name="Lifecycle Patient")
    doctor_id = demo_doctor_id(live)
    slots = free_slots(live, doctor_id)
    first, second = slots[0], slots[5]
    assert all(s["doctorId"] == doctor_id for s in slots)

    with live.client(token) as c:
        r = book(c, doctor_id, first["start"], reason="Chest pain check")
        assert r.status_code == 201, r.text
        assert "no-store" in r.headers["cache-control"]
        booked = r.json()
        assert set(booked) == APPOINTMENT_KEYS
        assert booked["clientId"] == patient_id
        assert booked["clientName"] == "Lifecycle Patient"
        assert booked["doctorId"] == doctor_id
        assert booked["status"] == "scheduled"
        assert booked["reason"] == "Chest pain check"
        assert instant(booked["start"]) == instant(first["start"])
        assert instant(booked["end"]) == instant(first["end"])
        appointment_id = booked["id"]

        # The slot is gone for everybody at once.
        assert instant(first["start"]) not in _slot_starts(live, doctor_id)

        listing = c.get("/api/appointments").json()
        assert [a["id"] for a in listing["items"]] == [appointment_id]
        assert listing["nextCursor"] is None
        assert c.get(f"/api/appointments/{appointment_id}").json() == booked

        stats = c.get("/api/dashboard/stats").json()
        assert stats["success"] is True
        data = stats["data"]
        assert data["upcomingCount"] == 1
        assert data["completedCount"] == 0
        assert instant(data["nextAppointmentDate"]) == instant(first["start"])
        assert [a["id"] for a in data["recentAppointments"]] == [appointment_id]
        assert data["recentAppointments"][0]["departmentName"] == "Cardiology"

        month = instant(first["start"]).astimezone(live.settings.zone).strftime("%Y-%m")
        calendar = c.get("/api/calendar", params={"month": month}).json()
        assert [a["id"] for a in calendar["items"]] == [appointment_id]

        activity = c.get("/api/activity").json()["items"]
        assert [(a["kind"], a["appointmentId"]) for a in activity] == [("booked", appointment_id)]

        # Reschedule: atomic, the old slot is free again and the new one is taken.
        r = c.patch(f"/api/appointments/{appointment_id}", json={"start": second["start"]})
        assert r.status_code == 200, r.text
        moved = r.json()
        assert moved["id"] == appointment_id
        assert instant(moved["start"]) == instant(second["start"])
        assert instant(moved["end"]) == instant(second["end"])
        starts = _slot_starts(live, doctor_id)
        assert instant(first["start"]) in starts
        assert instant(second["start"]) not in starts
        assert (
            scalar(live, "select count(*) from appointments where client_id = $1", patient_id) == 1
        )

        # Rescheduling onto a time that is no slot is refused and changes nothing.
        odd = (instant(second["start"]) + dt.timedelta(minutes=7)).isoformat()
        assert_problem(
            c.patch(f"/api/appointments/{appointment_id}", json={"start": odd}), 422, "invalid_slot"
        )

        r = c.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert instant(second["start"]) in _slot_starts(live, doctor_id)

        data = c.get("/api/dashboard/stats").json()["data"]
        assert data["upcomingCount"] == 0
        assert data["nextAppointmentDate"] is None
        assert data["recentAppointments"][0]["status"] == "cancelled"
        kinds = [a["kind"] for a in c.get("/api/activity").json()["items"]]
        assert kinds == ["cancelled", "rescheduled", "booked"]

        # A cancelled appointment cannot come back.
        assert_problem(
            c.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"}),
            409,
            "invalid_transition",
        )


def test_recent_appointments_are_exactly_the_five_newest(live: LiveServer) -> None:
    _, token = register(live)
    doctor_id = demo_doctor_id(live, "Dr. Sofia Rossi")
    slots = free_slots(live, doctor_id)
    chosen = slots[:: max(1, len(slots) // 7)][:7]
    assert len(chosen) == 7
    ids = []
    with live.client(token) as c:
        for slot in chosen:
            r = book(c, doctor_id, slot["start"])
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        data = c.get("/api/dashboard/stats").json()["data"]
    recent = data["recentAppointments"]
    assert [a["id"] for a in recent] == ids[::-1][:5]
    assert set(recent[0]) == {"id", "date", "status", "departmentName", "departmentColor"}
    assert data["upcomingCount"] == 7
    assert instant(data["nextAppointmentDate"]) == instant(chosen[0]["start"])


def test_listing_pages_with_a_cursor(live: LiveServer) -> None:
    _, token = register(live)
    doctor_id = demo_doctor_id(live, "Dr. Kenji Watanabe")
    slots = free_slots(live, doctor_id)[:5]
    with live.client(token) as c:
        ids = [book(c, doctor_id, s["start"]).json()["id"] for s in slots]
        seen: list[int] = []
        cursor = None
        for _ in range(10):
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = c.get("/api/appointments", params=params).json()
            seen += [a["id"] for a in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == ids
        only = c.get("/api/appointments", params={"status": "cancelled"}).json()
        assert only["items"] == []


def test_staff_books_for_a_patient_and_runs_the_day(live: LiveServer, staff_token: str) -> None:
    patient_id, patient_token = register(live)
    doctor_id = demo_doctor_id(live)
    slot = free_slots(live, doctor_id)[0]
    with live.client(staff_token) as staff:
        assert_problem(book(staff, doctor_id, slot["start"]), 422, "validation_error")
        r = book(staff, doctor_id, slot["start"], clientId=patient_id)
        assert r.status_code == 201, r.text
        appointment_id = r.json()["id"]
        for status in ("confirmed", "checked_in", "completed"):
            r = staff.patch(f"/api/appointments/{appointment_id}", json={"status": status})
            assert r.status_code == 200, r.text
            assert r.json()["status"] == status
    with live.client(patient_token) as c:
        assert c.get(f"/api/appointments/{appointment_id}").json()["status"] == "completed"
        data = c.get("/api/dashboard/stats").json()["data"]
        assert data["completedCount"] == 1
        assert data["upcomingCount"] == 0


def test_rescheduling_onto_a_taken_slot_changes_nothing(live: LiveServer) -> None:
    _, token_a = register(live)
    _, token_b = register(live)
    doctor_id = demo_doctor_id(live)
    slots = free_slots(live, doctor_id)
    with live.client(token_a) as a, live.client(token_b) as b:
        mine = book(a, doctor_id, slots[0]["start"]).json()
        theirs = book(b, doctor_id, slots[1]["start"]).json()
        r = b.patch(f"/api/appointments/{theirs['id']}", json={"start": slots[0]["start"]})
        assert_problem(r, 409, "slot_taken")
        assert b.get(f"/api/appointments/{theirs['id']}").json() == theirs
        assert a.get(f"/api/appointments/{mine['id']}").json() == mine
        # Two of one patient's appointments cannot overlap either (another doctor, same time).
        other_doctor = demo_doctor_id(live, "Dr. Lena Fischer")
        clash = next(
            s
            for s in free_slots(live, other_doctor)
            if instant(s["start"]) == instant(slots[0]["start"])
        )
        assert_problem(book(a, other_doctor, clash["start"]), 409, "patient_busy")


def test_concurrent_reschedules_onto_one_slot(live: LiveServer) -> None:
    import asyncio

    import httpx

    doctor_id = demo_doctor_id(live)
    slots = free_slots(live, doctor_id)
    target = slots[0]["start"]
    moves = []
    for i in range(1, 9):
        _, token = register(live)
        with live.client(token) as c:
            moves.append((token, book(c, doctor_id, slots[i]["start"]).json()["id"]))

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.patch(
                            f"/api/appointments/{appointment_id}",
                            json={"start": target},
                            headers={"Authorization": f"Bearer {token}"},
                        )
                        for token, appointment_id in moves
                    )
                )
            )

    responses = asyncio.run(go())
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert (
        scalar(
            live,
            "select count(*) from appointments where doctor_id = $1 and "
            "starts_at = $2::text::timestamptz and status <> 'cancelled'",
            doctor_id,
            target,
        )
        == 1
    )
    # The losers kept their own slots.
    assert (
        scalar(
            live,
            "select count(*) from appointments where doctor_id = $1 "
            "and status <> 'cancelled' and id = any($2::bigint[])",
            doctor_id,
            [m[1] for m in moves],
        )
        == 8
    )
