"""Cache keys and owner tags.

A key names its strategy, the format version and the identity that decides the answer
(`cs:v1:userStats:client:42`); a tag names an owner whose writes make the key stale
(`client:42`, `doctor:7`). Invalidation works on tags, so it is exact: a booking by patient
42 with doctor 7 on 3 March drops exactly the keys tagged client:42 or doctor:7, the slot
lists and schedules of that doctor (and the department's slot lists) for 3 March and for
date ranges, and the staff-wide lists; the same views of other single days stay cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from careslot import jsonutil

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

VERSION = "v1"
PREFIX = f"cs:{VERSION}"
EVERYTHING = "*"  # the tag that clears every key (unknown kinds of change)

# Owners whose data is not per person.
DEPARTMENTS = "public:departments"
DOCTORS = "public:doctors"
ALL_SLOTS = "slots:all"
ALL_SCHEDULES = "schedules:all"
ALL_APPOINTMENTS = "appointments:all"  # staff listings without a client or doctor filter
ALL_ACTIVITY = "activity:all"  # the staff activity feed


def client(client_id: int) -> str:
    return f"client:{client_id}"


def doctor(doctor_id: int) -> str:
    return f"doctor:{doctor_id}"


def department(department_id: int) -> str:
    return f"department:{department_id}"


def appointment_type(type_id: int) -> str:
    return f"type:{type_id}"


def slots_of(owner: str) -> str:
    """Every slot list of a doctor or department (owner): what a schedule change affects."""
    return f"slots:{owner}"


def slots_on(owner: str, day: date | None) -> str:
    """The owner's slot lists for one day, or (day None) those for a range of days."""
    return f"slots:{owner}:{day.isoformat() if day else 'range'}"


def day_views(owner: str, first: date, last: date) -> tuple[str, str]:
    """The tags of a view of the owner's days first..last: their free slots, or a doctor's
    schedule. Both change exactly when something on one of those days does (an appointment,
    given with its days: slots_on that day and the ranges) or the owner's hours do
    (slots_of), so they share tags, and a booking keeps the other days of either cached."""
    return slots_of(owner), slots_on(owner, first if first == last else None)


def key(strategy: str, scope: str, *parts: Any) -> str:
    tail = "".join(f":{p}" for p in parts)
    return f"{PREFIX}:{strategy}:{scope}{tail}"


def query_hash(query: DataclassInstance) -> str:
    """A short stable digest of a query's parameters (a frozen dataclass: the same fields in
    the same order in every process), so keys stay small and bounded."""
    return hashlib.blake2b(jsonutil.dumps(query), digest_size=12).hexdigest()


def dedupe(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tags))
