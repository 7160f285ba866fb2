"""Waitlist entries and offers as they cross module boundaries and the wire."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from careslot.schemas import Model


class EntryStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    DECLINED = "declined"
    EXPIRED = "expired"
    REMOVED = "removed"


class Offer(Model):
    """The slot held for the entry's patient until `expires_at`."""

    doctor_id: int
    doctor_name: str
    start: datetime
    end: datetime
    expires_at: datetime


class WaitlistEntry(Model):
    id: int
    client_id: int
    client_name: str
    doctor_id: int | None
    doctor_name: str | None
    department_id: int
    department_name: str
    type_id: int | None
    type_name: str | None
    from_: date = Field(alias="from")
    to: date
    status: EntryStatus
    created_at: datetime
    offer: Offer | None = None


class WaitlistListing(Model):
    items: list[WaitlistEntry]


class Wish(Model):
    """What a patient waits for: one doctor or any of a department's, within days."""

    client_id: int
    doctor_id: int | None
    department_id: int
    type_id: int | None
    first_day: date
    last_day: date
