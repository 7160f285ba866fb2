"""Running the hospital: departments, doctors and their weekly hours (SPEC section 8).

Every change is validated whole before anything is written, is audited in its own
transaction (who, what, which doctor), and is announced after commit so every worker drops
exactly the cached answers it affects before the caller hears back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any

from careslot import access
from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.context import Context
from careslot.errors import NotFound, UnknownReference, ValidationFailed
from careslot.events import Change
from careslot.messages import outbox
from careslot.scheduling import admin_repository as repo
from careslot.scheduling import hours
from careslot.scheduling.changes import DepartmentChanges, DoctorChanges
from careslot.scheduling.schemas import (
    AdminDepartment,
    AdminDoctor,
    WeeklyHours,
    WorkingHours,
    WorkingHoursReplaced,
)
from careslot.scheduling.slots import WorkingWindow

COLOR_CHARS = frozenset("0123456789abcdefABCDEF")


def _check_color(color: str) -> None:
    if len(color) != 7 or color[0] != "#" or not set(color[1:]) <= COLOR_CHARS:
        raise ValidationFailed("color must look like #1a2b3c")


def _renamed(changes: Mapping[str, object], *shown: str) -> str | None:
    """A change to what every appointment answer shows (a name, a colour) makes them all
    stale, not just the catalogue's: such a change is announced as "renamed"."""
    return "renamed" if shown and any(k in changes for k in shown) else None


async def list_departments(ctx: Context, *, actor: User) -> list[AdminDepartment]:
    """Every department, inactive ones too (the admin's view)."""
    access.require_schedule_editor(actor)
    async with ctx.pool.acquire() as conn:
        return await repo.all_departments(conn)


async def create_department(
    ctx: Context, *, actor: User, name: str, color: str = "#2563eb", description: str = ""
) -> AdminDepartment:
    access.require_admin(actor)
    _check_color(color)
    async with ctx.pool.acquire() as conn, conn.transaction():
        department_id = await repo.insert_department(
            conn, name=name, color=color, description=description
        )
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="create",
            entity="department",
            entity_id=department_id,
        )
        created = await repo.department(conn, department_id)
    await ctx.changes.publish(Change("departments"))
    assert created is not None
    return created


async def update_department(
    ctx: Context, *, actor: User, department_id: int, changes: DepartmentChanges
) -> AdminDepartment:
    access.require_admin(actor)
    if "color" in changes:
        _check_color(changes["color"])
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await repo.update_department(conn, department_id, changes):
            raise NotFound("no such department")
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="update:" + ",".join(sorted(changes)),
            entity="department",
            entity_id=department_id,
        )
        updated = await repo.department(conn, department_id)
    await ctx.changes.publish(Change(_renamed(changes, "name", "color") or "departments"))
    assert updated is not None
    return updated


async def list_doctors(ctx: Context, *, actor: User) -> list[AdminDoctor]:
    """Every doctor, inactive ones too (the admin's view)."""
    access.require_schedule_editor(actor)
    async with ctx.pool.acquire() as conn:
        return await repo.all_doctors(conn)


async def get_doctor(ctx: Context, *, actor: User, doctor_id: int) -> AdminDoctor:
    access.require_schedule_reader(actor, doctor_id)
    async with ctx.pool.acquire() as conn:
        found = await repo.doctor(conn, doctor_id)
    if found is None:
        raise NotFound("no such doctor")
    return found


def _check_slot_minutes(minutes: int) -> None:
    if not 5 <= minutes <= 240:
        raise ValidationFailed("slotMinutes must be between 5 and 240")


async def _check_doctor_user(conn: Any, user_id: int | None) -> None:
    if user_id is not None and await repo.doctor_user_role(conn, user_id) != "doctor":
        raise UnknownReference("userId must be the account of a doctor")


async def create_doctor(
    ctx: Context,
    *,
    actor: User,
    name: str,
    department_id: int,
    specialty: str = "",
    slot_minutes: int = 30,
    user_id: int | None = None,
) -> AdminDoctor:
    access.require_admin(actor)
    _check_slot_minutes(slot_minutes)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if await repo.department(conn, department_id) is None:
            raise UnknownReference("no such department")
        await _check_doctor_user(conn, user_id)
        doctor_id = await repo.insert_doctor(
            conn,
            name=name,
            department_id=department_id,
            specialty=specialty,
            slot_minutes=slot_minutes,
            user_id=user_id,
        )
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="create",
            entity="doctor",
            entity_id=doctor_id,
            doctor_id=doctor_id,
        )
        created = await repo.doctor(conn, doctor_id)
    await ctx.changes.publish(Change("doctors", doctor_ids=(doctor_id,)))
    assert created is not None
    return created


async def update_doctor(
    ctx: Context, *, actor: User, doctor_id: int, changes: DoctorChanges
) -> AdminDoctor:
    """A deactivated doctor leaves every patient view; their appointments stay."""
    access.require_admin(actor)
    if "slot_minutes" in changes:
        _check_slot_minutes(changes["slot_minutes"])
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repo.lock_doctor(conn, doctor_id)
        if (
            "department_id" in changes
            and await repo.department(conn, changes["department_id"]) is None
        ):
            raise UnknownReference("no such department")
        await _check_doctor_user(conn, changes.get("user_id"))
        if not await repo.update_doctor(conn, doctor_id, changes):
            raise NotFound("no such doctor")
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="update:" + ",".join(sorted(changes)),
            entity="doctor",
            entity_id=doctor_id,
            doctor_id=doctor_id,
        )
        updated = await repo.doctor(conn, doctor_id)
    kind = _renamed(changes, "name") or "doctors"
    await ctx.changes.publish(Change(kind, doctor_ids=(doctor_id,)))
    assert updated is not None
    return updated


def _weekly(windows: Sequence[tuple[int, time, time]]) -> list[WeeklyHours]:
    """The GET reads and the PUT answers with the week as written: one formatting for both."""
    return [
        WeeklyHours(weekday=wd, start=s.strftime("%H:%M"), end=e.strftime("%H:%M"))
        for wd, s, e in windows
    ]


async def working_hours(ctx: Context, *, actor: User, doctor_id: int) -> WorkingHours:
    access.require_schedule_reader(actor, doctor_id)
    async with ctx.pool.acquire() as conn:
        if await repo.doctor(conn, doctor_id) is None:
            raise NotFound("no such doctor")
        windows = await repo.working_hours(conn, doctor_id)
    return WorkingHours(doctor_id=doctor_id, items=_weekly(windows))


async def replace_working_hours(
    ctx: Context, *, actor: User, doctor_id: int, windows: Sequence[WorkingWindow]
) -> WorkingHoursReplaced:
    """Replace the whole week at once. Live future appointments now outside the hours stay
    booked; the answer lists them as `conflicts`."""
    access.require_schedule_editor(actor)
    now = ctx.clock.now()
    zone = ctx.zone
    hours.validate_week(windows, zone, now.astimezone(zone).date())
    week = sorted((w.weekday, w.start, w.end) for w in windows)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repo.lock_doctor(conn, doctor_id)
        if await repo.doctor(conn, doctor_id) is None:
            raise NotFound("no such doctor")
        await repo.replace_working_hours(conn, doctor_id, week)
        future = await repo.live_future(conn, doctor_id, now)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="replace",
            entity="working_hours",
            entity_id=None,
            doctor_id=doctor_id,
        )
        await outbox.schedule_changed(conn, ctx, doctor_id=doctor_id, change="working_hours")
    conflicts = hours.outside(
        ((r["id"], r["starts_at"], r["ends_at"]) for r in future), windows, zone
    )
    await ctx.changes.publish(Change("working_hours", doctor_ids=(doctor_id,)))
    return WorkingHoursReplaced(doctor_id=doctor_id, items=_weekly(week), conflicts=conflicts)
