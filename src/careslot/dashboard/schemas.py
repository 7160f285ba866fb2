"""The patient dashboard, the activity feed and the hospital figures on the wire."""

from __future__ import annotations

from datetime import datetime

from careslot.booking.schemas import Status
from careslot.schemas import Model


class RecentAppointment(Model):
    id: int
    date: datetime
    status: Status
    department_name: str
    department_color: str


class DashboardStats(Model):
    upcoming_count: int
    total_month_count: int
    completed_count: int
    next_appointment_date: datetime | None
    recent_appointments: list[RecentAppointment]


class StatsAnswer(Model):
    """The guide's envelope: {"success": true, "data": {...}}."""

    success: bool = True
    data: DashboardStats


class ActivityItem(Model):
    id: int
    at: datetime
    client_id: int | None
    appointment_id: int | None
    kind: str
    summary: str


class ActivityFeed(Model):
    items: list[ActivityItem]


class HospitalFigures(Model):
    patients_with_upcoming: int
    upcoming_count: int
    total_month_count: int
    completed_count: int
    cancelled_count: int
    no_show_count: int
    total_count: int
    next_appointment_date: datetime | None
    as_of: datetime


class HospitalStats(Model):
    success: bool = True
    data: HospitalFigures | None
