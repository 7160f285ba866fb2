"""Who sees what: the one place that turns a caller into a scope.

A scope is the whole decision for one kind of read: the filter the query applies (which
patient's or doctor's records), the identity that makes cached answers interchangeable (the
cache key), the owners whose writes make the answer stale (the cache tags) and whose record
it is (the audit log's subject). Services filter by the scope; cached reads key, tag and
audit by the same scope; nothing else decides access. Refusals happen here, before any cache
look-up or query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from careslot.accounts.models import Role, User
from careslot.cache import keys
from careslot.errors import Forbidden, ValidationFailed


@dataclass(frozen=True, slots=True)
class Scope:
    client_id: int | None  # only this patient's records (None: any patient's)
    doctor_id: int | None  # only this doctor's records (None: any doctor's)
    identity: str  # answers are interchangeable between callers of one identity
    owners: tuple[str, ...]  # cache tags whose writes make the answer stale
    subject: int | None  # whose record, for the audit log (None: many people's)


def identity(actor: User) -> str:
    """The access class whose answers are interchangeable."""
    if actor.is_staff:
        return "staff"
    if actor.is_doctor:
        return f"doctor:{actor.doctor_id}"
    return f"client:{actor.id}"


def own_doctor(actor: User) -> int:
    """The doctor whose schedule a doctor account runs. An account not linked to a doctor
    would otherwise filter on nothing and see everything."""
    if actor.doctor_id is None:
        raise Forbidden("this account is not linked to a doctor's schedule")
    return actor.doctor_id


def can_see_appointment(actor: User, *, client_id: int, doctor_id: int) -> bool:
    if actor.is_staff:
        return True
    if actor.is_doctor:
        return doctor_id == actor.doctor_id
    return client_id == actor.id


def appointments(actor: User, *, client_id: int | None, doctor_id: int | None) -> Scope:
    """Appointment lists: patients their own, doctors their own schedule, staff anyone's."""
    if actor.is_patient:
        if client_id not in (None, actor.id):
            raise Forbidden("patients see their own appointments only")
        return Scope(actor.id, None, identity(actor), (keys.client(actor.id),), actor.id)
    if actor.is_doctor:
        mine = own_doctor(actor)
        return Scope(client_id, mine, identity(actor), (keys.doctor(mine),), client_id)
    if not actor.is_staff:
        raise Forbidden("no appointment lists for this account")
    owners = tuple(
        tag
        for tag in (
            keys.client(client_id) if client_id else None,
            keys.doctor(doctor_id) if doctor_id else None,
        )
        if tag
    )
    return Scope(client_id, doctor_id, "staff", owners or (keys.ALL_APPOINTMENTS,), client_id)


def calendar(actor: User, *, doctor_id: int | None) -> Scope:
    """The month grid: patients their own; doctors their own; staff a named doctor's."""
    if actor.is_patient:
        if doctor_id is not None:
            raise Forbidden("patients see their own calendar only")
        return Scope(actor.id, None, identity(actor), (keys.client(actor.id),), actor.id)
    if actor.is_doctor:
        if doctor_id not in (None, actor.doctor_id):
            raise Forbidden("doctors see their own calendar only")
        mine = own_doctor(actor)
        return Scope(None, mine, identity(actor), (keys.doctor(mine),), None)
    if not actor.is_staff:
        raise Forbidden("no calendar for this account")
    if doctor_id is None:
        raise ValidationFailed("doctorId is required for staff")
    return Scope(None, doctor_id, "staff", (keys.doctor(doctor_id),), None)


def dashboard(actor: User, *, client_id: int | None) -> Scope:
    """Whose dashboard: the caller's identity decides, never the query (the guide let
    anyone read anyone's stats)."""
    if actor.is_patient:
        if client_id is not None and client_id != actor.id:
            raise Forbidden("patients see their own dashboard only")
        owner = actor.id
    elif not actor.is_staff:
        raise Forbidden("only patients and staff have dashboards")
    elif client_id is None:
        raise Forbidden("staff must name a clientId")
    else:
        owner = client_id
    # The answer depends only on whose dashboard it is, so staff and the patient share it.
    return Scope(owner, None, keys.client(owner), (keys.client(owner),), owner)


def activity(actor: User) -> Scope:
    """The activity feed: patients their own, staff everyone's; doctors use their schedule."""
    if actor.is_staff:
        return Scope(None, None, "staff", (keys.ALL_ACTIVITY,), None)
    if actor.is_patient:
        return Scope(actor.id, None, identity(actor), (keys.client(actor.id),), actor.id)
    raise Forbidden("doctors see activity on their schedule page")


def doctor_schedule(actor: User, *, doctor_id: int, first: date, last: date) -> Scope:
    """A doctor's working hours, time off and bookings over some days: staff, and that
    doctor. Stale when those days' slots are (keys.day_views), or any schedule's."""
    require_schedule_reader(actor, doctor_id)
    owner = keys.doctor(doctor_id)
    owners = (*keys.day_views(owner, first, last), keys.ALL_SCHEDULES)
    return Scope(None, doctor_id, owner, owners, None)


def staff_only(actor: User, what: str) -> None:
    """Hospital-wide reads (figures, the NDJSON stream, patient search)."""
    if not actor.is_staff:
        raise Forbidden(f"{what} is for staff")


# Running the hospital (SPEC section 8): admins manage everything; staff manage working
# hours and time off; a doctor reads their own schedule. Pages ask the same functions which
# controls to show.


def is_admin(actor: User) -> bool:
    return actor.role == Role.ADMIN


def can_edit_schedules(actor: User) -> bool:
    """Working hours and time off: staff and admins."""
    return actor.is_staff


def can_read_schedule(actor: User, doctor_id: int) -> bool:
    return can_edit_schedules(actor) or (actor.is_doctor and actor.doctor_id == doctor_id)


def require_admin(actor: User) -> None:
    if not is_admin(actor):
        raise Forbidden("only admins manage departments, doctors, closures and types")


def require_schedule_editor(actor: User) -> None:
    if not can_edit_schedules(actor):
        raise Forbidden("only staff and admins change working hours and time off")


def require_schedule_reader(actor: User, doctor_id: int) -> None:
    if not can_read_schedule(actor, doctor_id):
        raise Forbidden("only staff, admins and the doctor see this schedule")
