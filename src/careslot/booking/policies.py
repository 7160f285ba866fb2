"""The hospital's booking policies beyond the status moves: the change window, and the shape
a booked appointment keeps when it moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.config import Settings
from careslot.db import Conn
from careslot.errors import ChangeWindowClosed
from careslot.scheduling.slots import Shape


def window_closed(settings: Settings, starts_at: datetime, now: datetime) -> bool:
    notice = settings.change_notice_minutes
    return notice > 0 and now > starts_at - timedelta(minutes=notice)


def exempt_from_change_window(
    settings: Settings, *, actor: User, starts_at: datetime, now: datetime
) -> bool:
    """A patient may not cancel or reschedule within CARESLOT_CHANGE_NOTICE_MINUTES of the
    start (409 change_window_closed); anyone else may, and True says that this change is
    such an exemption, which is audited with it."""
    if not window_closed(settings, starts_at, now):
        return False
    if actor.role == "patient":
        raise ChangeWindowClosed(
            f"changes close {settings.change_notice_minutes} minutes before the start; "
            "please call the hospital"
        )
    return True


async def check_change_window(
    conn: Conn, settings: Settings, *, actor: User, appointment: Any, now: datetime
) -> None:
    """exempt_from_change_window, with the exemption audited in the caller's transaction."""
    if not exempt_from_change_window(
        settings, actor=actor, starts_at=appointment["starts_at"], now=now
    ):
        return
    await record_change(
        conn,
        actor_id=actor.id,
        subject_id=appointment["client_id"],
        action="exempt:change_window",
        entity="appointment",
        entity_id=appointment["id"],
        doctor_id=appointment["doctor_id"],
    )


def booked_shape(appointment: Any) -> Shape | None:
    """A typed appointment moves with the length and buffers it was booked with (a later
    change to its type does not alter it); an untyped one takes the doctor's slot."""
    if appointment["type_id"] is None:
        return None
    minutes = (appointment["ends_at"] - appointment["starts_at"]) // timedelta(minutes=1)
    return Shape(
        int(minutes), appointment["buffer_before_minutes"], appointment["buffer_after_minutes"]
    )
