"""No one hoards slots: at most CARESLOT_MAX_FUTURE_APPOINTMENTS live future appointments."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.api.helpers import (
    assert_problem,
    book,
    demo_doctor_id,
    free_slots,
    query,
    register,
    scalar,
)
from tests.conftest import LiveServer, Serve

LIMIT = 2


@pytest.fixture
def limited(serve: Serve) -> LiveServer:
    return serve(max_future_appointments=LIMIT)


def test_default_limit_is_ten(live: LiveServer) -> None:
    patient_id, token = register(live)
    doctor_id = demo_doctor_id(live, "Dr. Sofia Rossi")
    slots = free_slots(live, doctor_id)
    with live.client(token) as c:
        for slot in slots[:10]:
            assert book(c, doctor_id, slot["start"]).status_code == 201
        assert_problem(book(c, doctor_id, slots[10]["start"]), 409, "booking_limit")
    assert scalar(live, "select count(*) from appointments where client_id = $1", patient_id) == 10


def test_limit_counts_live_future_appointments_only(limited: LiveServer) -> None:
    patient_id, token = register(limited)
    doctor_id = demo_doctor_id(limited, "Dr. Kenji Watanabe")
    slots = free_slots(limited, doctor_id)
    # A past appointment does not count.
    query(
        limited,
        """insert into appointments (client_id, doctor_id, department_id, starts_at,
                                                ends_at, status)
                      select $1, id, department_id, now() - interval '3 days',
                             now() - interval '3 days' + interval '15 minutes', 'scheduled'
                      from doctors where id = $2""",
        patient_id,
        doctor_id,
    )
    with limited.client(token) as c:
        first = book(c, doctor_id, slots[0]["start"])
        assert first.status_code == 201
        assert book(c, doctor_id, slots[1]["start"]).status_code == 201
        assert_problem(book(c, doctor_id, slots[2]["start"]), 409, "booking_limit")

        # Cancelling frees a place.
        r = c.patch(f"/api/appointments/{first.json()['id']}", json={"status": "cancelled"})
        assert r.status_code == 200
        assert book(c, doctor_id, slots[2]["start"]).status_code == 201
        assert_problem(book(c, doctor_id, slots[3]["start"]), 409, "booking_limit")


def test_staff_bookings_count_too(limited: LiveServer) -> None:
    patient_id, _ = register(limited)
    staff = limited.login("staff@demo.careslot")
    doctor_id = demo_doctor_id(limited)
    slots = free_slots(limited, doctor_id)
    with limited.client(staff) as c:
        for slot in slots[:LIMIT]:
            assert book(c, doctor_id, slot["start"], clientId=patient_id).status_code == 201
        assert_problem(
            book(c, doctor_id, slots[LIMIT]["start"], clientId=patient_id), 409, "booking_limit"
        )


def test_concurrent_bookings_cannot_beat_the_limit(limited: LiveServer) -> None:
    patient_id, token = register(limited)
    doctor_id = demo_doctor_id(limited, "Dr. Sofia Rossi")
    slots = free_slots(limited, doctor_id)[:8]

    async def go() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=limited.url, headers=headers, timeout=60) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(
                            "/api/appointments", json={"doctorId": doctor_id, "start": s["start"]}
                        )
                        for s in slots
                    )
                )
            )

    responses = asyncio.run(go())
    assert Counter(r.status_code for r in responses) == {201: LIMIT, 409: len(slots) - LIMIT}
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "booking_limit")
    assert (
        scalar(limited, "select count(*) from appointments where client_id = $1", patient_id)
        == LIMIT
    )
