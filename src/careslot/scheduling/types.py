"""Appointment types per department: a name, a length, buffers, who may book them.

A type changes the slots it is asked for (its length, with room for its buffers) and is
copied onto each appointment booked with it, so editing a type never moves a booking.
"""

from __future__ import annotations

from careslot import access
from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.context import Context
from careslot.db import Conn
from careslot.errors import (
    NotFound,
    TypeNotBookable,
    TypeTooLong,
    UnknownReference,
    ValidationFailed,
)
from careslot.events import Change
from careslot.scheduling import admin_repository as repo
from careslot.scheduling.changes import TypeChanges, TypeFields
from careslot.scheduling.schemas import AppointmentType, AppointmentTypeList

MINUTES = (5, 240)
BUFFER = (0, 120)


def _check_numbers(minutes: int | None, *buffers: int | None) -> None:
    """The numbers given (None: not given) are within their bounds."""
    low, high = MINUTES
    if minutes is not None and not low <= minutes <= high:
        raise ValidationFailed(f"minutes must be between {low} and {high}")
    low, high = BUFFER
    if any(b is not None and not low <= b <= high for b in buffers):
        raise ValidationFailed(f"buffers must be between {low} and {high} minutes")


async def _check_fits(conn: Conn, department_id: int, total_minutes: int) -> None:
    longest = await repo.longest_window_minutes(conn, department_id)
    if longest is not None and total_minutes > longest:
        raise TypeTooLong(
            f"{total_minutes} minutes with buffers, but the department's longest working "
            f"window is {longest} minutes"
        )


async def list_types(
    ctx: Context, *, actor: User | None, department_id: int | None
) -> AppointmentTypeList:
    """Active types for everyone; admins also see inactive ones."""
    include_inactive = actor is not None and access.is_admin(actor)
    async with ctx.pool.acquire() as conn:
        items = await repo.types(conn, department_id, include_inactive=include_inactive)
    return AppointmentTypeList(items=items)


async def bookable(
    ctx: Context, *, actor: User, department_id: int | None
) -> list[AppointmentType]:
    """The department's active types this caller may book (patients: patient-bookable)."""
    if department_id is None:
        return []
    async with ctx.pool.acquire() as conn:
        found = await repo.types(conn, department_id, include_inactive=False)
    return [k for k in found if k.patient_bookable or not actor.is_patient]


async def create_type(
    ctx: Context,
    *,
    actor: User,
    department_id: int,
    name: str,
    minutes: int,
    buffer_before_minutes: int = 0,
    buffer_after_minutes: int = 0,
    patient_bookable: bool = True,
) -> AppointmentType:
    access.require_admin(actor)
    _check_numbers(minutes, buffer_before_minutes, buffer_after_minutes)
    fields = TypeFields(
        name=name,
        minutes=minutes,
        buffer_before_minutes=buffer_before_minutes,
        buffer_after_minutes=buffer_after_minutes,
        patient_bookable=patient_bookable,
    )
    async with ctx.pool.acquire() as conn, conn.transaction():
        if await repo.department(conn, department_id) is None:
            raise UnknownReference("no such department")
        await _check_fits(
            conn, department_id, minutes + buffer_before_minutes + buffer_after_minutes
        )
        type_id = await repo.insert_type(conn, department_id, fields)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="create",
            entity="appointment_type",
            entity_id=type_id,
        )
        created = await repo.appointment_type(conn, type_id)
    await ctx.changes.publish(
        Change("appointment_types", department_ids=(department_id,), type_ids=(type_id,))
    )
    assert created is not None
    return created


async def update_type(
    ctx: Context, *, actor: User, type_id: int, changes: TypeChanges
) -> AppointmentType:
    access.require_admin(actor)
    _check_numbers(
        changes.get("minutes"),
        changes.get("buffer_before_minutes"),
        changes.get("buffer_after_minutes"),
    )
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await repo.appointment_type(conn, type_id)
        if current is None:
            raise NotFound("no such appointment type")
        merged = current.model_copy(update=changes)
        if {"minutes", "buffer_before_minutes", "buffer_after_minutes"} & changes.keys():
            total = merged.minutes + merged.buffer_before_minutes + merged.buffer_after_minutes
            await _check_fits(conn, merged.department_id, total)
        await repo.update_type(conn, type_id, changes)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="update:" + ",".join(sorted(changes)),
            entity="appointment_type",
            entity_id=type_id,
        )
        updated = await repo.appointment_type(conn, type_id)
    await ctx.changes.publish(
        Change(
            "renamed" if "name" in changes else "appointment_types",
            department_ids=(merged.department_id,),
            type_ids=(type_id,),
        )
    )
    assert updated is not None
    return updated


async def for_slots(conn: Conn, type_id: int) -> AppointmentType:
    """An active type, or 422 unknown_reference."""
    found = await repo.appointment_type(conn, type_id)
    if found is None or not found.active:
        raise UnknownReference("no such appointment type")
    return found


def check_bookable(found: AppointmentType | None, *, actor: User) -> AppointmentType:
    """`found` if it is an active type this caller may book: staff any, patients only
    patient-bookable ones; else 422 unknown_reference or 403."""
    if found is None or not found.active:
        raise UnknownReference("no such appointment type")
    if not found.patient_bookable and actor.is_patient:
        raise TypeNotBookable("this appointment type is booked by staff only")
    return found


async def for_booking(conn: Conn, *, actor: User, type_id: int) -> AppointmentType:
    """An active type this caller may book, read now (a booking reads it from the catalogue
    in memory instead: scheduling/catalog.py)."""
    return check_bookable(await repo.appointment_type(conn, type_id), actor=actor)
