"""Which owners a committed change makes stale: the one place that maps writes to keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from careslot.cache import keys
from careslot.cache import strategies as s
from careslot.events import Change

SCHEDULE_KINDS = frozenset({"schedule", "working_hours", "time_off"})
CATALOG_KINDS = frozenset({"departments", "doctors"})
CLOSURE_KINDS = frozenset({"closure", "closures"})
TYPE_KIND = "appointment_types"
RENAMED_KIND = "renamed"  # a doctor, department or type shown under a new name
APPOINTMENT_STRATEGIES = (
    s.USER_STATS,
    s.APPOINTMENTS,
    s.CALENDAR,
    s.RECENT_ACTIVITY,
    s.AVAILABLE_SLOTS,
    s.DOCTOR_SCHEDULE,
)


DepartmentsOf = Callable[[list[int]], Awaitable[list[int]]]


async def affected(
    change: Change,
    departments_of: DepartmentsOf,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The owner tags to invalidate and the strategies they cover (for the metrics)."""
    if change.kind in CATALOG_KINDS:
        tags = [keys.DEPARTMENTS, keys.DOCTORS, keys.ALL_SLOTS, keys.ALL_SCHEDULES]
        return tuple(tags), (
            s.DEPARTMENTS.name,
            s.DOCTORS.name,
            s.AVAILABLE_SLOTS.name,
            s.DOCTOR_SCHEDULE.name,
        )
    if change.kind == RENAMED_KIND:  # names and colours are in every appointment answer
        return (keys.EVERYTHING,), tuple(x.name for x in s.ALL)
    if change.kind == TYPE_KIND:  # only the slot lists asked for those types
        tags = [keys.slots_of(keys.appointment_type(t)) for t in change.type_ids]
        return keys.dedupe(tags or [keys.ALL_SLOTS]), (s.AVAILABLE_SLOTS.name,)
    if change.kind in CLOSURE_KINDS:
        return (
            (keys.ALL_SLOTS, keys.ALL_SCHEDULES),
            (s.AVAILABLE_SLOTS.name, s.DOCTOR_SCHEDULE.name),
        )
    doctors = [keys.doctor(d) for d in change.doctor_ids]
    slot_owners = list(doctors)
    if change.doctor_ids:  # slot lists by department include these doctors' slots
        found = change.department_ids or await departments_of(list(change.doctor_ids))
        slot_owners += [keys.department(d) for d in found]
    if change.kind in SCHEDULE_KINDS:
        tags = [
            *doctors,
            *map(keys.slots_of, slot_owners),
            keys.DOCTORS,
        ]  # slot length shows in the doctor list
        return keys.dedupe(tags), (s.AVAILABLE_SLOTS.name, s.DOCTOR_SCHEDULE.name, s.DOCTORS.name)
    if change.appointment_id is not None or change.client_ids:
        if change.days:  # only those days' lists, and the ranges that may include them
            slots = [keys.slots_on(o, d) for o in slot_owners for d in (*change.days, None)]
        else:
            slots = [keys.slots_of(o) for o in slot_owners]
        tags = [
            *(keys.client(c) for c in change.client_ids),
            *doctors,
            *slots,
            keys.ALL_APPOINTMENTS,
            keys.ALL_ACTIVITY,
        ]
        return keys.dedupe(tags), tuple(x.name for x in APPOINTMENT_STRATEGIES)
    # A kind of change this module does not know: correctness first, drop everything.
    return (keys.EVERYTHING,), tuple(x.name for x in s.ALL)
