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


class IdempotencyKeyReused(CareslotError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key reused with another body"


class InvalidSlot(CareslotError):
    status, code, title = 422, "invalid_slot", "That time is not a bookable slot"


class ValidationFailed(CareslotError):
    status, code, title = 422, "validation_error", "The request is not valid"


class MalformedRequest(CareslotError):
    status, code, title = 400, "malformed_request", "The request body is not valid JSON"


class PayloadTooLarge(CareslotError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class RateLimited(CareslotError):
    status, code, title = 429, "rate_limited", "Too many attempts; try again later"


class ServiceUnavailable(CareslotError):
    status, code, title = 503, "unavailable", "Service temporarily unavailable"
