"""Appointments cancelled because their doctor is unavailable (forced time off, a closure).

One function, called inside the transaction that makes the doctor unavailable, so the
cancellations commit or roll back with the time off. Whatever must happen with such a
cancellation belongs in `cancel_for_unavailability`, in that same transaction: the activity
row the patient sees, the audit row, and the patient's message (the outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from careslot.audit.log import record_change
from careslot.booking import repository as repo
from careslot.booking.rules import LIVE
from careslot.context import Context
from careslot.db import Conn
from careslot.events import Change
from careslot.messages import outbox
from careslot.scheduling.slots import days_touched

SUMMARY = "Cancelled: doctor unavailable"


@dataclass(frozen=True, slots=True)
class Cancelled:
    appointment_id: int
    client_id: int
    doctor_id: int
    department_id: int
    starts_at: datetime
    ends_at: datetime
    blocked_from: datetime
    blocked_to: datetime


async def cancel_for_unavailability(
    ctx: Context, conn: Conn, *, actor_id: int, appointment_ids: Sequence[int]
) -> list[Cancelled]:
    """Cancel these appointments (those still live), with their activity and audit rows and
    the cancellation message to each patient."""
    rows = await conn.fetch(
        """update appointments set status = 'cancelled', updated_at = now()
           where id = any($1::bigint[]) and status = any($2::text[])
           returning id, client_id, doctor_id, department_id, starts_at, ends_at,
                     lower(blocked) as blocked_from, upper(blocked) as blocked_to""",
        list(appointment_ids),
        list(LIVE),
    )
    cancelled = [Cancelled(*r.values()) for r in sorted(rows, key=lambda r: r["id"])]
    for c in cancelled:
        await repo.add_activity(
            conn,
            actor_id=actor_id,
            client_id=c.client_id,
            appointment_id=c.appointment_id,
            kind="cancelled",
            summary=SUMMARY,
        )
        await record_change(
            conn,
            actor_id=actor_id,
            subject_id=c.client_id,
            action="update:cancelled:doctor_unavailable",
            entity="appointment",
            entity_id=c.appointment_id,
            doctor_id=c.doctor_id,
        )
        await outbox.appointment_changed(
            conn, ctx, appointment_id=c.appointment_id, kind="cancelled"
        )
    return cancelled


def change_for(cancelled: Sequence[Cancelled], zone: ZoneInfo) -> Change | None:
    """The after-commit notice for these cancellations (patients, doctors, days), if any."""
    if not cancelled:
        return None
    days = {d for c in cancelled for d in days_touched(c.blocked_from, c.blocked_to, zone)}
    return Change(
        "cancelled",
        client_ids=tuple(sorted({c.client_id for c in cancelled})),
        doctor_ids=tuple(sorted({c.doctor_id for c in cancelled})),
        days=tuple(sorted(days)),
        department_ids=tuple(sorted({c.department_id for c in cancelled})),
    )
