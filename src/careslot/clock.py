"""The hospital's clock: 'now', 'today' and month bounds in CARESLOT_TIMEZONE.

Services read time only from the context's clock (`ctx.clock.now()`), never from
`datetime.now()` or SQL `now()`, so tests can move time (session expiry, throttling windows,
cache TTLs, reminders, holds) instead of sleeping for it.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from typing import Protocol
from zoneinfo import ZoneInfo

from careslot.errors import ValidationFailed

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring intervals (cache TTLs); moves with now()."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class MovableClock:
    """Real time plus an offset that tests move forward (or back)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset.total_seconds()

    def move(self, delta: timedelta) -> None:
        self.offset += delta

    def set(self, instant: datetime) -> None:
        """Make now() return `instant` at this moment (and run on from there)."""
        self.offset = instant - datetime.now(UTC)


def today(zone: ZoneInfo, now: datetime) -> date:
    return now.astimezone(zone).date()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall_time(0), tzinfo=zone).astimezone(UTC)


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Half-open [start of first, start of the day after last) as instants."""
    return day_start(first, zone), day_start(last + timedelta(days=1), zone)


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return day_start(first, zone), day_start(following, zone)


def parse_month(text: str | None, today: date) -> tuple[int, int]:
    """`YYYY-MM` (2000-2100) as (year, month); None means this month."""
    if text is None:
        return today.year, today.month
    match = MONTH_RE.match(text)
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise ValidationFailed("month must look like 2026-03 (YYYY-MM)")
    return int(match.group(1)), int(match.group(2))
