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


async def check_change_window(
    conn: Conn, settings: Settings, *, actor: User, appointment: Any, now: datetime
) -> None:
    """A patient may not cancel or reschedule within CARESLOT_CHANGE_NOTICE_MINUTES of the
    start (409 change_window_closed); anyone else may, and that exemption is audited."""
    if not window_closed(settings, appointment["starts_at"], now):
        return
    if actor.role == "patient":
        raise ChangeWindowClosed(
            f"changes close {settings.change_notice_minutes} minutes before the start; "
            "please call the hospital"
        )
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
