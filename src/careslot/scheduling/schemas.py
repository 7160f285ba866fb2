"""Departments, doctors, free slots and a doctor's schedule on the wire."""

from __future__ import annotations

from datetime import datetime

from careslot.booking.schemas import Appointment
from careslot.scheduling.slots import Shape
from careslot.schemas import Model


class AppointmentType(Model):
    """A kind of visit per department (SPEC section 8): its length, its buffers, who may
    book it. Copied onto each appointment booked with it."""

    id: int
    department_id: int
    name: str
    minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    patient_bookable: bool
    active: bool

    @property
    def shape(self) -> Shape:
        return Shape(self.minutes, self.buffer_before_minutes, self.buffer_after_minutes)


class AppointmentTypeList(Model):
    items: list[AppointmentType]


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


class DoctorTimeOff(TimeOff):
    doctor_id: int


class TimeOffList(Model):
    doctor_id: int
    items: list[DoctorTimeOff]


class TimeOffAdded(DoctorTimeOff):
    cancelled: list[int]  # the appointments a forced time off cancelled


class Closure(TimeOff):
    """A hospital-wide closure: the same period, for every doctor."""


class ClosureList(Model):
    items: list[Closure]


class ClosureAdded(Closure):
    cancelled: list[int]


class DoctorSchedule(Model):
    doctor_id: int
    working_hours: list[WeeklyHours]
    time_off: list[TimeOff]
    appointments: list[Appointment]
