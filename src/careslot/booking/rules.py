"""Appointment status moves (SPEC section 2)."""

from __future__ import annotations

from datetime import datetime

from careslot.accounts.models import User
from careslot.errors import InvalidTransition

STATUSES = ("scheduled", "confirmed", "checked_in", "completed", "cancelled", "no_show")
LIVE = ("scheduled", "confirmed", "checked_in")

MOVES: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"confirmed", "cancelled", "checked_in", "no_show"}),
    "confirmed": frozenset({"cancelled", "checked_in", "no_show"}),
    "checked_in": frozenset({"completed", "no_show"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "no_show": frozenset(),
}


def check_move(
    *, actor: User, current: str, target: str, starts_at: datetime, now: datetime
) -> None:
    """Raise unless `actor` may move an appointment it can see from current to target."""
    if actor.role == "patient" and target != "cancelled":
        # SPEC section 2: any move a caller may not make is 409 invalid_transition.
        raise InvalidTransition("patients may only cancel their appointments")
    if target not in MOVES.get(current, frozenset()):
        raise InvalidTransition(f"cannot move from {current} to {target}")
    if target == "no_show" and now < starts_at:
        raise InvalidTransition("no-show only after the appointment's start")
    if actor.role == "patient" and starts_at <= now:
        raise InvalidTransition("only future appointments can be cancelled")


def check_reschedule(*, actor: User, current: str, starts_at: datetime, now: datetime) -> None:
    if current not in ("scheduled", "confirmed"):
        raise InvalidTransition(f"a {current} appointment cannot be rescheduled")
    if actor.role == "patient" and starts_at <= now:
        raise InvalidTransition("only future appointments can be rescheduled")
