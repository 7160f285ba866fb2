"""The pages' reads: the API's cached reads (same services, same keys, same invalidation on
every write), parsed back into the domain's typed shapes for the templates. A page therefore
costs no database round trip when the API's answer is cached, and is exactly as fresh as the
API; a renamed field is a type error here, and a missing one fails the template (strict)."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter

from careslot.accounts.models import User
from careslot.booking import cache as booking
from careslot.booking.schemas import Appointment, AppointmentPage, Calendar
from careslot.cache.core import Answer
from careslot.context import Context
from careslot.dashboard import cache as dashboard
from careslot.dashboard.schemas import ActivityFeed, ActivityItem, DashboardStats, StatsAnswer
from careslot.scheduling import cache as scheduling
from careslot.scheduling.schemas import Department, Doctor, DoctorSchedule, FreeSlot, SlotList

M = TypeVar("M", bound=BaseModel)
_DEPARTMENTS = TypeAdapter(list[Department])
_DOCTORS = TypeAdapter(list[Doctor])


def _parse(answer: Answer, shape: type[M]) -> M:
    return shape.model_validate_json(answer.entry.body)


async def departments(ctx: Context) -> list[Department]:
    return _DEPARTMENTS.validate_json((await scheduling.departments(ctx)).entry.body)


async def doctors(ctx: Context, *, department_id: int | None) -> list[Doctor]:
    answer = await scheduling.doctors(ctx, department_id=department_id)
    return _DOCTORS.validate_json(answer.entry.body)


async def slots(
    ctx: Context,
    *,
    doctor_id: int,
    first: dt.date,
    last: dt.date,
    type_id: int | None = None,
) -> list[FreeSlot]:
    answer = await scheduling.slots(
        ctx, doctor_id=doctor_id, department_id=None, first=first, last=last, type_id=type_id
    )
    return _parse(answer, SlotList).slots


async def dashboard_stats(ctx: Context, *, actor: User) -> DashboardStats:
    return _parse(await dashboard.stats(ctx, actor=actor, client_id=None), StatsAnswer).data


async def activity(ctx: Context, *, actor: User, limit: int) -> list[ActivityItem]:
    return _parse(await dashboard.activity(ctx, actor=actor, limit=limit), ActivityFeed).items


async def appointments(
    ctx: Context,
    *,
    actor: User,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 200,
    doctor_id: int | None = None,
) -> list[Appointment]:
    answer = await booking.appointments(
        ctx,
        actor=actor,
        status=None,
        start=start,
        end=end,
        limit=limit,
        cursor=None,
        doctor_id=doctor_id,
        client_id=None,
    )
    return _parse(answer, AppointmentPage).items


async def doctor_schedule(
    ctx: Context, *, actor: User, doctor_id: int, first: dt.date, last: dt.date
) -> DoctorSchedule:
    answer = await scheduling.doctor_schedule(
        ctx, actor=actor, doctor_id=doctor_id, first=first, last=last
    )
    return _parse(answer, DoctorSchedule)


async def calendar(
    ctx: Context, *, actor: User, year: int, month: int, doctor_id: int | None
) -> Calendar:
    answer = await booking.calendar(ctx, actor=actor, year=year, month=month, doctor_id=doctor_id)
    return _parse(answer, Calendar)
