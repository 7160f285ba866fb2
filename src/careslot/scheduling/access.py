"""Who may run which part of the hospital (SPEC section 8), decided here only.

Admins manage everything; staff manage working hours and time off; a doctor reads their own
schedule. Pages ask the same functions which controls to show.
"""

from __future__ import annotations

from careslot.accounts.models import User
from careslot.errors import Forbidden


def is_admin(actor: User) -> bool:
    return actor.role == "admin"


def can_edit_schedules(actor: User) -> bool:
    """Working hours and time off: staff and admins."""
    return actor.role in ("staff", "admin")


def can_read_schedule(actor: User, doctor_id: int) -> bool:
    return can_edit_schedules(actor) or (actor.role == "doctor" and actor.doctor_id == doctor_id)


def require_admin(actor: User) -> None:
    if not is_admin(actor):
        raise Forbidden("only admins manage departments, doctors, closures and types")


def require_schedule_editor(actor: User) -> None:
    if not can_edit_schedules(actor):
        raise Forbidden("only staff and admins change working hours and time off")


def require_schedule_reader(actor: User, doctor_id: int) -> None:
    if not can_read_schedule(actor, doctor_id):
        raise Forbidden("only staff, admins and the doctor see this schedule")
