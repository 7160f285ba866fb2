"""Request bodies for running the hospital (SPEC section 8), camelCase on the wire."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, TypeVar

from pydantic import AwareDatetime, BeforeValidator, Field, StrictBool, TypeAdapter

from careslot.api.schemas import Body, Id, Text
from careslot.errors import ValidationFailed
from careslot.scheduling.changes import DepartmentChanges, DoctorChanges, TypeChanges
from careslot.scheduling.slots import WorkingWindow

HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Color = Annotated[Text, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Description = Annotated[Text, Field(max_length=1000)]
Reason = Annotated[Text, Field(max_length=500)]
SlotMinutes = Annotated[int, Field(ge=5, le=240)]
Minutes = Annotated[int, Field(ge=5, le=240)]
Buffer = Annotated[int, Field(ge=0, le=120)]


def _wall(value: object) -> dt.time:
    match = HHMM.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("must be a wall-clock time HH:MM (00:00 to 23:59)")
    return dt.time(int(match.group(1)), int(match.group(2)))


Wall = Annotated[dt.time, BeforeValidator(_wall)]


T = TypeVar("T")
DEPARTMENT_CHANGES = TypeAdapter(DepartmentChanges)
DOCTOR_CHANGES = TypeAdapter(DoctorChanges)
TYPE_CHANGES = TypeAdapter(TypeChanges)


def changes(body: Body, kind: TypeAdapter[T], *, nullable: frozenset[str] = frozenset()) -> T:
    """The fields a PATCH sent (snake_case) as that kind's change set; null only where the
    column allows it."""
    sent = body.model_dump(exclude_unset=True)
    for name, value in sent.items():
        if value is None and name not in nullable:
            raise ValidationFailed(f"{name} cannot be null")
    return kind.validate_python(sent)


class DepartmentIn(Body):
    name: Name
    color: Color = "#2563eb"
    description: Description = ""


class DepartmentPatch(Body):
    name: Name | None = None
    color: Color | None = None
    description: Description | None = None
    is_active: StrictBool | None = None


class DoctorIn(Body):
    name: Name
    department_id: Id
    specialty: Annotated[Text, Field(max_length=200)] = ""
    slot_minutes: SlotMinutes = 30
    user_id: Id | None = None


class DoctorPatch(Body):
    name: Name | None = None
    department_id: Id | None = None
    specialty: Annotated[Text, Field(max_length=200)] | None = None
    slot_minutes: SlotMinutes | None = None
    user_id: Id | None = None
    is_active: StrictBool | None = None


class WindowIn(Body):
    weekday: Annotated[int, Field(ge=1, le=7)]
    start: Wall
    end: Wall

    def window(self) -> WorkingWindow:
        return WorkingWindow(self.weekday, self.start, self.end)


class WorkingHoursIn(Body):
    items: Annotated[list[WindowIn], Field(max_length=70)]


class PeriodIn(Body):
    start: AwareDatetime
    end: AwareDatetime
    reason: Reason = ""


class ClosureIn(PeriodIn):
    reason: Annotated[Text, Field(min_length=1, max_length=500)]


class TypeIn(Body):
    department_id: Id
    name: Name
    minutes: Minutes
    buffer_before_minutes: Buffer = 0
    buffer_after_minutes: Buffer = 0
    patient_bookable: StrictBool = True


class TypePatch(Body):
    name: Name | None = None
    minutes: Minutes | None = None
    buffer_before_minutes: Buffer | None = None
    buffer_after_minutes: Buffer | None = None
    patient_bookable: StrictBool | None = None
    active: StrictBool | None = None
