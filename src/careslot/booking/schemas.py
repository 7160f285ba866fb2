"""Appointments as they cross module boundaries and the wire (SPEC section 3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from careslot.schemas import Model


class Status(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class Appointment(Model):
    id: int
    client_id: int
    client_name: str
    doctor_id: int
    doctor_name: str
    department_id: int
    department_name: str
    department_color: str
    start: datetime
    end: datetime
    status: Status
    reason: str
    created_at: datetime
    updated_at: datetime
    type_id: int | None = None  # the appointment type (SPEC section 8), if booked as one
    type_name: str | None = None


class AppointmentPage(Model):
    items: list[Appointment]
    next_cursor: str | None


class Calendar(Model):
    month: str  # YYYY-MM
    doctor_id: int | None
    items: list[Appointment]
