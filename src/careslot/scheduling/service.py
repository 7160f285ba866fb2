"""Departments, doctors and free slots: the public, read-mostly side of booking."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from careslot import clock
from careslot.config import Settings
from careslot.db import Conn
from careslot.errors import InvalidSlot, NotFound, ValidationFailed
from careslot.scheduling import repository as repo
from careslot.scheduling.slots import BusyTimes, Slot, day_slots, days_between, free_slots

if TYPE_CHECKING:
    from careslot.context import Context

MAX_RANGE_DAYS = 31


async def departments(ctx: Context) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        return await repo.departments(conn)


async def doctors(ctx: Context, *, department_id: int | None) -> list[dict[str, Any]]:
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
) -> list[dict[str, Any]]:
    check_range(first, last)
    now = ctx.clock.now()
    settings, zone = ctx.settings, ctx.zone
    start, end = clock.day_bounds(first, last, zone)
    async with ctx.pool.acquire() as conn:
        if doctor_id is not None:
            doctor_ids = [doctor_id]
        elif department_id is not None:
            doctor_ids = await repo.doctor_ids_in_department(conn, department_id)
        else:
            raise ValidationFailed("doctorId or departmentId is required")
        schedules = await repo.schedules(conn, doctor_ids)
        if doctor_id is not None and doctor_id not in schedules:
            raise NotFound("no such doctor")
        busy = await repo.busy_intervals(conn, list(schedules), start, end)
    earliest, latest = booking_window(settings, now)
    days = days_between(first, last)
    out: list[dict[str, Any]] = []
    for did, schedule in schedules.items():
        for slot in free_slots(
            days=days,
            windows=schedule["windows"],
            slot_minutes=schedule["slot_minutes"],
            zone=zone,
            busy=BusyTimes(busy[did]),
            earliest=earliest,
            latest=latest,
        ):
            out.append({"doctorId": did, "start": slot.start, "end": slot.end})
    out.sort(key=lambda s: (s["start"], s["doctorId"]))
    return out


async def check_slot(
    ctx: Context,
    conn: Conn,
    *,
    doctor_id: int,
    start: datetime,
    now: datetime,
) -> tuple[dict[str, Any], Slot]:
    """The doctor's schedule and the slot that begins at `start`, or InvalidSlot. Whether
    the slot is free is the database's call (the exclusion constraint), not this function's.
    Runs on the caller's connection, inside the booking's transaction."""
    schedule = (await repo.schedules(conn, [doctor_id])).get(doctor_id)
    if schedule is None:
        raise NotFound("no such doctor")
    settings, zone = ctx.settings, ctx.zone
    earliest, latest = booking_window(settings, now)
    if not earliest <= start <= latest:
        raise InvalidSlot(
            f"bookable starts are between {settings.min_notice_minutes} minutes and "
            f"{settings.horizon_days} days from now"
        )
    day = start.astimezone(zone).date()
    match = next(
        (
            s
            for s in day_slots(day, schedule["windows"], schedule["slot_minutes"], zone)
            if s.start == start
        ),
        None,
    )
    if match is None:
        raise InvalidSlot("the doctor has no slot starting at that time")
    blocked = BusyTimes(await repo.blocked_intervals(conn, doctor_id, match.start, match.end))
    if blocked.overlaps(match.start, match.end):
        raise InvalidSlot("the doctor is away at that time")
    return schedule, match


async def doctor_schedule(
    ctx: Context, *, doctor_id: int, first: date, last: date
) -> dict[str, Any]:
    check_range(first, last)
    start, end = clock.day_bounds(first, last, ctx.zone)
    async with ctx.pool.acquire() as conn:
        if await repo.doctor(conn, doctor_id) is None:
            raise NotFound("no such doctor")
        return {"doctorId": doctor_id, **await repo.schedule_view(conn, doctor_id, start, end)}
