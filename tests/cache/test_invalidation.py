"""Which cache tags a committed change makes stale (the mapping, without a server)."""

from __future__ import annotations

import asyncio
import datetime as dt

from careslot.cache import keys
from careslot.cache.invalidation import affected
from careslot.events import Change

DAY = dt.date(2026, 3, 3)
NEXT = dt.date(2026, 3, 4)


async def departments_of(doctor_ids: list[int]) -> list[int]:
    return [100 + d for d in doctor_ids]  # doctor 7 works in department 107


def tags_of(change: Change) -> set[str]:
    return set(asyncio.run(affected(change, departments_of))[0])


def test_a_booking_drops_its_days_slot_lists_and_ranges_not_other_days() -> None:
    tags = tags_of(Change("booked", (42,), (7,), 1, (DAY,)))
    for owner in ("doctor:7", "department:107"):
        assert keys.slots_on(owner, DAY) in tags
        assert keys.slots_on(owner, None) in tags
        assert keys.slots_on(owner, NEXT) not in tags
        assert keys.slots_of(owner) not in tags
    assert {keys.client(42), keys.doctor(7), keys.ALL_APPOINTMENTS} <= tags


def test_a_reschedule_drops_both_days() -> None:
    tags = tags_of(Change("rescheduled", (42,), (7,), 1, (DAY, NEXT)))
    assert {keys.slots_on("doctor:7", DAY), keys.slots_on("doctor:7", NEXT)} <= tags


def test_unknown_days_drop_every_slot_list_of_the_doctor_and_department() -> None:
    tags = tags_of(Change("cancelled", (42,), (7,), 1))
    assert {keys.slots_of("doctor:7"), keys.slots_of("department:107")} <= tags


def test_a_schedule_change_drops_every_day() -> None:
    tags = tags_of(Change("schedule", (), (7,)))
    assert {
        keys.slots_of("doctor:7"),
        keys.slots_of("department:107"),
        keys.doctor(7),
        keys.DOCTORS,
    } <= tags


def test_departments_the_writer_knows_are_not_looked_up() -> None:
    asked: list[list[int]] = []

    async def recording(doctor_ids: list[int]) -> list[int]:
        asked.append(doctor_ids)
        return await departments_of(doctor_ids)

    known = Change("booked", (42,), (7,), 1, (DAY,), (5,))
    tags = set(asyncio.run(affected(known, recording))[0])
    assert keys.slots_on("department:5", DAY) in tags
    assert not any(t.startswith("slots:department:107") for t in tags)
    assert asked == []
    asyncio.run(affected(Change("cancelled", (42,), (7,), 1, (DAY,)), recording))
    assert asked == [[7]]
