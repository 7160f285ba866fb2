"""Appointment status moves (SPEC section 2)."""

from __future__ import annotations

from datetime import datetime

from careslot.accounts.models import User
from careslot.booking.schemas import Status
from careslot.errors import InvalidTransition

STATUSES = tuple(Status)
LIVE = (Status.SCHEDULED, Status.CONFIRMED, Status.CHECKED_IN)

MOVES: dict[Status, frozenset[Status]] = {
    Status.SCHEDULED: frozenset(
        {Status.CONFIRMED, Status.CANCELLED, Status.CHECKED_IN, Status.NO_SHOW}
    ),
    Status.CONFIRMED: frozenset({Status.CANCELLED, Status.CHECKED_IN, Status.NO_SHOW}),
    Status.CHECKED_IN: frozenset({Status.COMPLETED, Status.NO_SHOW}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NO_SHOW: frozenset(),
}


def check_move(
    *, actor: User, current: Status, target: Status, starts_at: datetime, now: datetime
) -> None:
    """Raise unless `actor` may move an appointment it can see from current to target."""
    if actor.is_patient and target != Status.CANCELLED:
        # SPEC section 2: any move a caller may not make is 409 invalid_transition.
        raise InvalidTransition("patients may only cancel their appointments")
    if target not in MOVES.get(current, frozenset()):
        raise InvalidTransition(f"cannot move from {current} to {target}")
    if target == Status.NO_SHOW and now < starts_at:
        raise InvalidTransition("no-show only after the appointment's start")
    if actor.is_patient and starts_at <= now:
        raise InvalidTransition("only future appointments can be cancelled")


def can_move(
    *, actor: User, current: Status, target: Status, starts_at: datetime, now: datetime
) -> bool:
    """Whether check_move would allow it now (e.g. which desk buttons to offer); the
    service checks again when the move is made."""
    try:
        check_move(actor=actor, current=current, target=target, starts_at=starts_at, now=now)
    except InvalidTransition:
        return False
    return True


def check_reschedule(*, actor: User, current: Status, starts_at: datetime, now: datetime) -> None:
    if current not in (Status.SCHEDULED, Status.CONFIRMED):
        raise InvalidTransition(f"a {current} appointment cannot be rescheduled")
    if actor.is_patient and starts_at <= now:
        raise InvalidTransition("only future appointments can be rescheduled")
