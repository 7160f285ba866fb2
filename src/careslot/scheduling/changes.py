"""What an edit of the hospital's catalogue may change, by kind: the fields sent and nothing
else (a field a PATCH left out is absent, not None). The API and the web forms build them,
the services check them, and the repository maps their keys to columns."""

from __future__ import annotations

# pydantic validates a PATCH into these, and on Python < 3.12 only typing_extensions' kind.
from typing_extensions import TypedDict


class DepartmentChanges(TypedDict, total=False):
    name: str
    color: str
    description: str
    is_active: bool


class DoctorChanges(TypedDict, total=False):
    name: str
    department_id: int
    specialty: str
    slot_minutes: int
    user_id: int | None  # None unlinks the doctor's account
    is_active: bool


class TypeFields(TypedDict):
    """An appointment type's own fields, all of them, as a form or a POST gives them."""

    name: str
    minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    patient_bookable: bool


class TypeChanges(TypedDict, total=False):
    name: str
    minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    patient_bookable: bool
    active: bool
