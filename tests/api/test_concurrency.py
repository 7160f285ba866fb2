"""Races for one slot and retried bookings: the database decides, exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.api.helpers import (
    PASSWORD,
    assert_problem,
    book,
    demo_doctor_id,
    free_slots,
    query,
    register,
    scalar,
    user_id,
)
from tests.conftest import LiveServer

RACERS = 100


async def _register_many(live: LiveServer, count: int) -> list[str]:
    limits = asyncio.Semaphore(10)

    async def one(client: httpx.AsyncClient, i: int) -> str:
        async with limits:
            r = await client.post(
                "/api/auth/register",
                json={
                    "email": f"racer{i}@test.careslot",
                    "password": PASSWORD,
                    "name": f"Racer {i}",
                },
            )
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token

    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        return list(await asyncio.gather(*(one(client, i) for i in range(count))))


async def _race(
    live: LiveServer, tokens: list[str], doctor_id: int, start: str
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
        gate = asyncio.Event()

        async def one(token: str) -> httpx.Response:
            await gate.wait()
            return await client.post(
                "/api/appointments",
                json={"doctorId": doctor_id, "start": start},
                headers={"Authorization": f"Bearer {token}"},
            )

        tasks = [asyncio.create_task(one(t)) for t in tokens]
        await asyncio.sleep(0.05)
        gate.set()
        return list(await asyncio.gather(*tasks))


def test_hundred_patients_race_for_one_slot(live: LiveServer) -> None:
    tokens = asyncio.run(_register_many(live, RACERS))
    doctor_id = demo_doctor_id(live)
    slot = free_slots(live, doctor_id)[0]
    before = scalar(live, "select count(*) from appointments")

    responses = asyncio.run(_race(live, tokens, doctor_id, slot["start"]))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: RACERS - 1}, statuses
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "slot_taken")
    winner = next(r for r in responses if r.status_code == 201).json()
    live_rows = query(
        live,
        "select id, client_id from appointments where doctor_id = $1 "
        "and starts_at = $2::text::timestamptz and status <> 'cancelled'",
        doctor_id,
        slot["start"],
    )
    assert [(r["id"], r["client_id"]) for r in live_rows] == [(winner["id"], winner["clientId"])]
    assert scalar(live, "select count(*) from appointments") == before + 1


def test_idempotent_retry_replays_the_first_answer(live: LiveServer) -> None:
    _, token = register(live)
    doctor_id = demo_doctor_id(live)
    slots = free_slots(live, doctor_id)
    payload = {"doctorId": doctor_id, "start": slots[0]["start"], "reason": "retry me"}
    with live.client(token) as c:
        first = c.post("/api/appointments", json=payload, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        again = c.post("/api/appointments", json=payload, headers={"Idempotency-Key": "k-1"})
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content

        other = dict(payload, start=slots[3]["start"])
        reused = c.post("/api/appointments", json=other, headers={"Idempotency-Key": "k-1"})
        assert_problem(reused, 422, "idempotency_key_reused")

        # Without the key a repeat is a second booking attempt: the slot is taken.
        assert_problem(book(c, doctor_id, slots[0]["start"], reason="retry me"), 409)
    assert scalar(live, "select count(*) from appointments where reason = 'retry me'") == 1
    assert (
        scalar(
            live,
            "select count(*) from appointments where starts_at = "
            "$1::text::timestamptz and doctor_id = $2",
            slots[3]["start"],
            doctor_id,
        )
        == 0
    )


def test_idempotency_keys_belong_to_one_user(live: LiveServer) -> None:
    _, token_a = register(live)
    _, token_b = register(live)
    doctor_id = demo_doctor_id(live)
    slots = free_slots(live, doctor_id)
    with live.client(token_a) as a, live.client(token_b) as b:
        ra = a.post(
            "/api/appointments",
            json={"doctorId": doctor_id, "start": slots[0]["start"]},
            headers={"Idempotency-Key": "shared"},
        )
        rb = b.post(
            "/api/appointments",
            json={"doctorId": doctor_id, "start": slots[1]["start"]},
            headers={"Idempotency-Key": "shared"},
        )
    assert ra.status_code == rb.status_code == 201
    assert "idempotent-replayed" not in rb.headers
    assert ra.json()["id"] != rb.json()["id"]


def test_concurrent_retries_with_one_key_book_once(live: LiveServer) -> None:
    _, token = register(live)
    doctor_id = demo_doctor_id(live)
    slot = free_slots(live, doctor_id)[2]
    payload = {"doctorId": doctor_id, "start": slot["start"], "reason": "double click"}

    async def go() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "click-1"}
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post("/api/appointments", json=payload, headers=headers)
                        for _ in range(20)
                    )
                )
            )

    responses = asyncio.run(go())
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == len(responses) - 1
    assert scalar(live, "select count(*) from appointments where reason = 'double click'") == 1


def test_one_patient_booking_many_slots_at_once_never_deadlocks(live: LiveServer) -> None:
    """Concurrent bookings by one patient, each with its own Idempotency-Key, on different
    slots: every answer is 201 or a clean 409, never a 500 (they once deadlocked)."""
    token = live.login("patient2@demo.careslot")
    doctor_id = demo_doctor_id(live)
    starts = [s["start"] for s in free_slots(live, doctor_id)[:12]]
    patient_id = user_id(live, "patient2@demo.careslot")
    held = scalar(
        live,
        "select count(*) from appointments where client_id = $1 and starts_at > now() "
        "and status in ('scheduled', 'confirmed', 'checked_in')",
        patient_id,
    )
    room = live.settings.max_future_appointments - held
    assert 0 < room < len(starts), held

    async def book_all() -> list[tuple[int, str | None]]:
        async with httpx.AsyncClient(
            base_url=live.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as c:
            answers = await asyncio.gather(
                *(
                    c.post(
                        "/api/appointments",
                        json={"doctorId": doctor_id, "start": start},
                        headers={"Idempotency-Key": f"burst-{i}"},
                    )
                    for i, start in enumerate(starts)
                )
            )
        return [(a.status_code, a.json().get("code")) for a in answers]

    answers = asyncio.run(book_all())
    statuses = [status for status, _ in answers]
    codes = [code for _, code in answers]
    # The patient row lock serialises the limit check: exactly the room left is booked, and
    # every other answer is the limit, not a lost race or a deadlock.
    assert sorted(statuses) == [201] * room + [409] * (len(starts) - room), statuses
    assert [code for code in codes if code] == ["booking_limit"] * (len(starts) - room)
