"""A doctor's weekly hours: what makes a week valid, and which appointments fall outside it.

Pure functions, no database: the admin service validates a whole week before it replaces
the stored one, so a refused week leaves nothing half-written.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from careslot.clock import day_start
from careslot.errors import InvalidSchedule
from careslot.scheduling.slots import WorkingWindow, to_instant

# Far enough ahead to meet every daylight-saving change the zone's current rules make.
GAP_LOOKAHEAD_DAYS = 400


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def transition_days(zone: ZoneInfo, first: date, days: int = GAP_LOOKAHEAD_DAYS) -> list[date]:
    """Local days on which the zone's offset changes (where a wall time may not exist)."""
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        start = day_start(day, zone) - timedelta(hours=3)
        end = day_start(day + timedelta(days=1), zone) + timedelta(hours=3)
        if start.astimezone(zone).utcoffset() != end.astimezone(zone).utcoffset():
            out.append(day)
    return out


def exists(day: date, wall: time, zone: ZoneInfo) -> bool:
    """Whether a clock in `zone` ever shows `wall` on `day` (not inside a skipped hour)."""
    naive = datetime.combine(day, wall)
    there_and_back = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return there_and_back.replace(tzinfo=None) == naive


def validate_week(windows: Sequence[WorkingWindow], zone: ZoneInfo, today: date) -> None:
    """Raise InvalidSchedule (422) for an empty or reversed window, windows of one day that
    overlap, or a start or end that a daylight-saving change skips on that weekday."""
    by_day: dict[int, list[WorkingWindow]] = defaultdict(list)
    for w in windows:
        if w.start >= w.end:
            raise InvalidSchedule(
                f"weekday {w.weekday}: start {_hhmm(w.start)} is not before end {_hhmm(w.end)}",
                problem="start_not_before_end",
            )
        by_day[w.weekday].append(w)
    for weekday, day_windows in by_day.items():
        day_windows.sort(key=lambda w: w.start)
        for earlier, later in itertools.pairwise(day_windows):
            if later.start < earlier.end:
                raise InvalidSchedule(
                    f"weekday {weekday}: {_hhmm(earlier.start)}-{_hhmm(earlier.end)} overlaps "
                    f"{_hhmm(later.start)}-{_hhmm(later.end)}",
                    problem="overlap",
                )
    for day in transition_days(zone, today):
        for w in by_day.get(day.isoweekday(), ()):
            for wall in (w.start, w.end):
                if not exists(day, wall, zone):
                    raise InvalidSchedule(
                        f"weekday {w.weekday}: {_hhmm(wall)} does not exist on "
                        f"{day.isoformat()} in {zone.key} (the clocks skip it)",
                        problem="dst_gap",
                    )


def outside(
    appointments: Iterable[tuple[int, datetime, datetime]],
    windows: Sequence[WorkingWindow],
    zone: ZoneInfo,
) -> list[int]:
    """The ids of appointments that no working window of their day holds."""
    out = []
    for appointment_id, start, end in appointments:
        day = start.astimezone(zone).date()
        inside = any(
            to_instant(day, w.start, zone) <= start and end <= to_instant(day, w.end, zone)
            for w in windows
            if w.weekday == day.isoweekday()
        )
        if not inside:
            out.append(appointment_id)
    return out
