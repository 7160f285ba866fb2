"""The hook booking calls inside its transaction: write the messages a change causes.

One round trip (the SQL function outbox_appointment_changed, migration 0003) writes the
patient's mail, the reminders, and the webhook deliveries, and NOTIFYs the senders at commit.
Nothing here talks to a mail server, so a booking never waits for one.
"""

from __future__ import annotations

from careslot.context import Context
from careslot.db import Conn

# A booking service's change kind -> the event it tells people about.
EVENTS = {"booked": "booked", "rescheduled": "rescheduled", "cancelled": "cancelled"}
NOTIFY_CHANNEL = "careslot_outbox"


async def appointment_changed(conn: Conn, ctx: Context, *, appointment_id: int, kind: str) -> None:
    """`kind` is booked, rescheduled, cancelled, or the appointment's new status."""
    await conn.execute(
        "select outbox_appointment_changed($1, $2, $3, $4)",
        appointment_id,
        EVENTS.get(kind, "status_changed"),
        ctx.clock.now(),
        list(ctx.settings.reminder_offsets),
    )


async def schedule_changed(conn: Conn, ctx: Context, *, doctor_id: int | None, change: str) -> None:
    """A doctor's hours or time off, or a hospital closure (doctor_id None), changed:
    `schedule.changed` webhook deliveries, in the change's transaction."""
    await conn.execute(
        "select outbox_schedule_changed($1, $2, $3)", doctor_id, change, ctx.clock.now()
    )
