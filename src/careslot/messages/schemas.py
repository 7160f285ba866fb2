"""What a message says about an appointment: the outbox's payload, typed.

The payload is the appointment JSON of the API as of the change, without `reason` (no
clinical content leaves the hospital), written by the outbox function in the same
transaction as the change.
"""

from __future__ import annotations

from datetime import datetime

from careslot.booking.schemas import Status
from careslot.schemas import Model


class Notice(Model):
    id: int
    client_name: str = ""
    doctor_name: str
    department_name: str
    start: datetime
    end: datetime
    status: Status
