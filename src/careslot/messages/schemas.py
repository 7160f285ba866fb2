"""What a message says about an appointment: the outbox's payload, typed.

The payload is the appointment JSON of the API as of the change, without `reason` (no
clinical content leaves the hospital), written by the outbox function in the same
transaction as the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from careslot.accounts.models import UserOut
from careslot.booking.schemas import Status
from careslot.schemas import Model


class Notice(Model):
    id: int
    client_name: str = ""
    doctor_name: str
    department_name: str
    start: datetime
    end: datetime
    status: Status | Literal["held"]  # held: a waitlist offer (SPEC section 10)
    entry_id: int | None = None  # the waitlist entry an offer answers
    expires_at: datetime | None = None  # until when an offer holds the slot


class OutboxMessage(Model):
    """One row of the outbox as staff see it (SPEC section 9)."""

    id: int
    to: str
    template: str
    channel: str
    appointment_id: int | None
    due_at: datetime
    status: Literal["pending", "sent", "failed", "held", "skipped"]
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    message_id: UUID


class OutboxListing(Model):
    items: list[OutboxMessage]


class Profile(UserOut):
    """The caller's account with their reminder choice (GET and PATCH /api/users/profile)."""

    reminders: bool


class Webhook(Model):
    """A subscribed receiver, as admins list it (its secret is shown once, at registration)."""

    id: int
    url: str
    events: list[str]
    created_at: datetime


class WebhookRegistered(Webhook):
    secret: str


class WebhookList(Model):
    items: list[Webhook]
