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


class AdminDepartment(Department):
    """A department as its admins see it (SPEC section 8): inactive ones too."""

    is_active: bool


class AdminDoctor(Model):
    """A doctor as the admins see it (SPEC section 8): inactive ones too, with the linked
    account. Not a subclass of Doctor: the fields' order is the wire's key order, and
    departmentName sits between departmentId and specialty."""

    id: int
    name: str
    department_id: int
    department_name: str
    specialty: str
    slot_minutes: int
    user_id: int | None
    is_active: bool


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


class WorkingHours(Model):
    """A doctor's week: its windows by weekday, then start."""

    doctor_id: int
    items: list[WeeklyHours]


class WorkingHoursReplaced(WorkingHours):
    conflicts: list[int]  # live future appointments now outside the hours (still booked)


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
