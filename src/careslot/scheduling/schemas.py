"""Departments, doctors, free slots and a doctor's schedule on the wire."""

from __future__ import annotations

from datetime import datetime

from careslot.booking.schemas import Appointment
from careslot.schemas import Model


class Department(Model):
    id: int
    name: str
    color: str
    description: str


class Doctor(Model):
    id: int
    name: str
    department_id: int
    specialty: str
    slot_minutes: int


class FreeSlot(Model):
    doctor_id: int
    start: datetime
    end: datetime


class SlotList(Model):
    slots: list[FreeSlot]


class WeeklyHours(Model):
    weekday: int  # ISO: 1 = Monday
    start: str  # HH:MM, wall clock in the hospital's zone
    end: str


class TimeOff(Model):
    id: int
    start: datetime
    end: datetime
    reason: str


class DoctorSchedule(Model):
    doctor_id: int
    working_hours: list[WeeklyHours]
    time_off: list[TimeOff]
    appointments: list[Appointment]
