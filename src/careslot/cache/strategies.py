"""The guide's cache strategies: one TTL and one set of HTTP cache headers per kind of data."""

from __future__ import annotations

from dataclasses import dataclass, field

from careslot.headers import PRIVATE, SENSITIVE

L1_MAX_TTL = 60  # the guide: never more than a minute in process memory


def _public(seconds: int, stale: int) -> dict[str, str]:
    swr = f", stale-while-revalidate={stale}" if stale else ""
    return {
        "Cache-Control": f"public, s-maxage={seconds}{swr}",
        "CDN-Cache-Control": f"max-age={seconds}",
        "Vary": "Accept-Encoding",
    }


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    ttl: float  # seconds in Redis; layer 1 keeps min(ttl, L1_MAX_TTL)
    headers: dict[str, str] = field(default_factory=lambda: dict(PRIVATE))
    # `headers` as an ASGI answer sends them, encoded once here rather than on every answer.
    raw_headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = tuple(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()
        )
        object.__setattr__(self, "raw_headers", raw)

    @property
    def l1_ttl(self) -> float:
        return min(self.ttl, L1_MAX_TTL)


DEPARTMENTS = Strategy("departments", 3600, _public(3600, 7200))
DOCTORS = Strategy("doctors", 3600, _public(3600, 7200))
# Our own layers are invalidated on every booking; a CDN is not. Five seconds (not the
# guide's 15, and no stale-while-revalidate) bounds how long an edge can offer a slot that
# was just booked; booking it then answers 409 slot_taken, never a double booking.
AVAILABLE_SLOTS = Strategy("availableSlots", 15, _public(5, 0))
USER_STATS = Strategy("userStats", 30, PRIVATE)
APPOINTMENTS = Strategy("appointments", 10, SENSITIVE)
CALENDAR = Strategy("calendar", 5, SENSITIVE)
RECENT_ACTIVITY = Strategy("recentActivity", 60, PRIVATE)
DOCTOR_SCHEDULE = Strategy("doctorSchedule", 10, PRIVATE)

ALL = (
    DEPARTMENTS,
    DOCTORS,
    AVAILABLE_SLOTS,
    USER_STATS,
    APPOINTMENTS,
    CALENDAR,
    RECENT_ACTIVITY,
    DOCTOR_SCHEDULE,
)
