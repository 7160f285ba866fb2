"""Domain errors: each has an HTTP status, a stable code and a title (RFC 9457)."""

from __future__ import annotations

from typing import Any, ClassVar


class CareslotError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class Unauthenticated(CareslotError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(CareslotError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(CareslotError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(CareslotError):
    status, code, title = 409, "conflict", "Conflict"


class EmailTaken(Conflict):
    code, title = "email_taken", "Email already registered"


class SlotTaken(Conflict):
    code, title = "slot_taken", "That slot has just been taken"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "That status change is not allowed"


class BookingLimit(Conflict):
    code, title = "booking_limit", "Too many upcoming appointments"


class ScheduleConflict(Conflict):
    code, title = "schedule_conflict", "Live appointments are in the way"


class ChangeWindowClosed(Conflict):
    code, title = "change_window_closed", "Too close to the appointment to change it"


class NameTaken(Conflict):
    code, title = "name_taken", "That name is already used"


class TypeNotBookable(Forbidden):
    code, title = "type_not_bookable", "That appointment type is booked by staff only"


class IdempotencyKeyReused(CareslotError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key reused with another body"


class InvalidSlot(CareslotError):
    status, code, title = 422, "invalid_slot", "That time is not a bookable slot"


class ValidationFailed(CareslotError):
    status, code, title = 422, "validation_error", "The request is not valid"


class InvalidSchedule(CareslotError):
    status, code, title = 422, "invalid_schedule", "Those working hours are not valid"


class InvalidPeriod(CareslotError):
    status, code, title = 422, "invalid_period", "That period is not valid"


class UnknownReference(CareslotError):
    status, code, title = (
        422,
        "unknown_reference",
        "The request refers to something that does not exist",
    )


class TypeTooLong(CareslotError):
    status, code, title = (
        422,
        "type_too_long",
        "The appointment type does not fit in any working window",
    )


class TypeNotOffered(CareslotError):
    status, code, title = (
        422,
        "type_not_offered",
        "That doctor's department does not offer that type",
    )


class MalformedRequest(CareslotError):
    status, code, title = 400, "malformed_request", "The request body is not valid JSON"


class PayloadTooLarge(CareslotError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class RateLimited(CareslotError):
    status, code, title = 429, "rate_limited", "Too many attempts; try again later"


class ServiceUnavailable(CareslotError):
    status, code, title = 503, "unavailable", "Service temporarily unavailable"
