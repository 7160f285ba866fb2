"""Departments, doctors and free slots: the public, read-mostly side of booking."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from careslot import clock
from careslot.access import Scope
from careslot.config import Settings
from careslot.db import Conn
from careslot.errors import InvalidSlot, NotFound, TypeNotOffered, TypeTooLong, ValidationFailed
from careslot.scheduling import repository as repo
from careslot.scheduling import types
from careslot.scheduling.schemas import (
    AppointmentType,
    Department,
    Doctor,
    FreeSlot,
    SlotList,
    TimeOff,
    WeeklyHours,
)
from careslot.scheduling.slots import (
    MAX_BUFFER,
    BusyTimes,
    DoctorHours,
    Shape,
    Slot,
    day_grid,
    days_between,
    free_slots,
)

if TYPE_CHECKING:
    from careslot.context import Context

MAX_RANGE_DAYS = 31


async def departments(ctx: Context) -> list[Department]:
    async with ctx.pool.acquire() as conn:
        return await repo.departments(conn)


async def doctors(ctx: Context, *, department_id: int | None) -> list[Doctor]:
    async with ctx.pool.acquire() as conn:
        return await repo.doctors(conn, department_id)


def booking_window(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    """The earliest and latest bookable starts: minimum notice and horizon."""
    return (
        now + timedelta(minutes=settings.min_notice_minutes),
        now + timedelta(days=settings.horizon_days),
    )


def check_range(first: date, last: date) -> None:
    if last < first:
        raise ValidationFailed("'to' is before 'from'")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"at most {MAX_RANGE_DAYS} days at a time")


async def slots(
    ctx: Context,
    *,
    doctor_id: int | None,
    department_id: int | None,
    first: date,
    last: date,
    type_id: int | None = None,
) -> SlotList:
    """Free slots; with `type_id`, of that type's length and each with room for its
    buffers (inside the working window, clear of every other blocked range)."""
    check_range(first, last)
    now = ctx.clock.now()
    settings, zone = ctx.settings, ctx.zone
    start, end = clock.day_bounds(first, last, zone)
    async with ctx.pool.acquire() as conn:
        appointment_type = await types.for_slots(conn, type_id) if type_id is not None else None
        if doctor_id is not None:
            doctor_ids = [doctor_id]
        elif department_id is not None:
            doctor_ids = await repo.doctor_ids_in_department(conn, department_id)
        else:
            raise ValidationFailed("doctorId or departmentId is required")
        schedules = await repo.schedules(conn, doctor_ids)
        if doctor_id is not None and doctor_id not in schedules:
            raise NotFound("no such doctor")
        if appointment_type is not None:
            schedules = _offering(schedules, appointment_type, strict=doctor_id is not None)
        # Buffers reach outside the days asked for: look that far for what blocks them.
        busy = await repo.busy_intervals(
            conn, list(schedules), start - MAX_BUFFER, end + MAX_BUFFER
        )
    earliest, latest = booking_window(settings, now)
    days = days_between(first, last)
    out: list[FreeSlot] = []
    for did, schedule in schedules.items():
        shape = appointment_type.shape if appointment_type else Shape(schedule.slot_minutes)
        out.extend(
            FreeSlot(doctor_id=did, start=slot.start, end=slot.end)
            for slot in free_slots(
                days=days,
                windows=schedule.windows,
                slot_minutes=shape.minutes,
                zone=zone,
                busy=BusyTimes(busy[did]),
                earliest=earliest,
                latest=latest,
                before=shape.before,
                after=shape.after,
            )
        )
    out.sort(key=lambda s: (s.start, s.doctor_id))
    return SlotList(slots=out)


def _offering(
    schedules: dict[int, DoctorHours], appointment_type: AppointmentType, *, strict: bool
) -> dict[int, DoctorHours]:
    """The doctors that offer the type (its department's, with a window it fits in); for
    one doctor asked by name (strict), one who does not is a 422."""
    total = appointment_type.shape.step
    out = {}
    for did, schedule in schedules.items():
        if schedule.department_id != appointment_type.department_id:
            if strict:
                raise TypeNotOffered("that doctor's department does not offer this type")
            continue
        longest = max(
            (
                datetime.combine(date.min, w.end) - datetime.combine(date.min, w.start)
                for w in schedule.windows
            ),
            default=None,
        )
        if longest is not None and total > longest:
            if strict:
                raise TypeTooLong("this type, with its buffers, is longer than every window")
            continue
        out[did] = schedule
    return out


def slot_at(
    ctx: Context,
    schedule: DoctorHours,
    *,
    start: datetime,
    now: datetime,
    shape: Shape | None = None,
    department_id: int | None = None,
) -> Slot:
    """The slot of `shape` (default: the doctor's plain slot) that begins at `start` in the
    doctor's weekly hours and the booking window, or InvalidSlot. Time off, closures and
    other appointments are the database's to check. `department_id`: the department a typed
    booking's type belongs to."""
    if department_id is not None and department_id != schedule.department_id:
        raise TypeNotOffered("that doctor's department does not offer this type")
    shape = shape or Shape(schedule.slot_minutes)
    settings, zone = ctx.settings, ctx.zone
    earliest, latest = booking_window(settings, now)
    if not earliest <= start <= latest:
        raise InvalidSlot(
            f"bookable starts are between {settings.min_notice_minutes} minutes and "
            f"{settings.horizon_days} days from now"
        )
    day = start.astimezone(zone).date()
    grid = day_grid(day, schedule.windows, shape.minutes, zone, shape.before, shape.after)
    match = next((s for s in grid if s.start == start), None)
    if match is None:
        raise InvalidSlot("the doctor has no slot starting at that time")
    return match


async def check_slot(
    ctx: Context,
    conn: Conn,
    *,
    doctor_id: int,
    start: datetime,
    now: datetime,
    shape: Shape | None = None,
) -> Slot:
    """The slot of `shape` that begins at `start` in the doctor's schedule, or InvalidSlot.
    Whether the slot is free is the database's call (the exclusion constraint), not this
    function's. Runs on the caller's connection, inside its transaction, which must already
    hold the doctor's schedule lock (shared: admin_repository.lock_appointments_doctor), so a
    concurrent time off or closure either sees this change or is seen by it. (A new booking
    does all of this in book_appointment.)"""
    schedule = (await repo.schedules(conn, [doctor_id])).get(doctor_id)
    if schedule is None:
        raise NotFound("no such doctor")
    match = slot_at(ctx, schedule, start=start, now=now, shape=shape)
    blocked_from, blocked_to = (shape or Shape(schedule.slot_minutes)).blocked(match)
    away = BusyTimes(await repo.blocked_intervals(conn, doctor_id, blocked_from, blocked_to))
    if away.overlaps(blocked_from, blocked_to):
        raise InvalidSlot("the doctor is away at that time")
    return match


async def working_time(
    ctx: Context, *, scope: Scope, first: date, last: date
) -> tuple[list[WeeklyHours], list[TimeOff]]:
    """The weekly hours and the time off between first and last of the doctor `scope`
    allows (access.doctor_schedule decided it)."""
    assert scope.doctor_id is not None
    check_range(first, last)
    start, end = clock.day_bounds(first, last, ctx.zone)
    async with ctx.pool.acquire() as conn:
        if await repo.doctor(conn, scope.doctor_id) is None:
            raise NotFound("no such doctor")
        return await repo.schedule_view(conn, scope.doctor_id, start, end)
