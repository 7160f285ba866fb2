"""Typed slots with buffers across time zones and daylight-saving changes (pure functions):
no slot's blocked range meets a buffered appointment, time off or another slot; every slot
has its type's length; every blocked range lies inside a working window."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from careslot.scheduling.slots import (
    BusyTimes,
    Shape,
    WorkingWindow,
    days_touched,
    free_slots,
    to_instant,
)
from tests.scheduling.test_slots import ZONES, zone_and_day

UTC = dt.UTC
EVER = dt.datetime(1970, 1, 1, tzinfo=UTC), dt.datetime(2100, 1, 1, tzinfo=UTC)

shapes = st.builds(Shape, st.integers(5, 240), st.integers(0, 120), st.integers(0, 120))


@st.composite
def windows_on(draw: st.DrawFn, weekday: int) -> list[WorkingWindow]:
    """One to three non-overlapping windows on `weekday`, in quarter hours."""
    marks = sorted(draw(st.sets(st.integers(0, 95), min_size=2, max_size=6)))
    pairs = list(zip(marks[::2], marks[1::2], strict=False))
    return [
        WorkingWindow(weekday, dt.time(a // 4, a % 4 * 15), dt.time(b // 4, b % 4 * 15))
        for a, b in pairs
    ]


@st.composite
def appointments(draw: st.DrawFn, day_start: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Blocked ranges of booked appointments (with their own buffers) and time off."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        start = day_start + dt.timedelta(minutes=draw(st.integers(-180, 26 * 60)))
        length = dt.timedelta(minutes=draw(st.integers(5, 240)))
        before = dt.timedelta(minutes=draw(st.integers(0, 120)))
        after = dt.timedelta(minutes=draw(st.integers(0, 120)))
        out.append((start - before, start + length + after))
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), where=zone_and_day(), shape=shapes)
def test_typed_slots_keep_clear_of_every_buffer(
    data: st.DataObject, where: tuple[ZoneInfo, dt.date], shape: Shape
) -> None:
    zone, day = where
    windows = data.draw(windows_on(day.isoweekday()))
    day_start = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(UTC)
    busy = data.draw(appointments(day_start))
    found = free_slots(
        days=[day],
        windows=windows,
        slot_minutes=shape.minutes,
        zone=zone,
        busy=BusyTimes(busy),
        earliest=EVER[0],
        latest=EVER[1],
        before=shape.before,
        after=shape.after,
    )
    spans = [(to_instant(day, w.start, zone), to_instant(day, w.end, zone)) for w in windows]
    previous_end = None
    for slot in found:
        assert slot.end - slot.start == dt.timedelta(minutes=shape.minutes)
        blocked_from, blocked_to = shape.blocked(slot)
        for taken_from, taken_to in busy:
            assert blocked_to <= taken_from or taken_to <= blocked_from, (slot, taken_from)
        assert any(a <= blocked_from and blocked_to <= b for a, b in spans)
        if previous_end is not None:
            assert blocked_from >= previous_end  # slots' own blocks never overlap
        previous_end = blocked_to


@settings(max_examples=300, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    minute=st.integers(0, 60 * 24 * 365 * 5),
    appointment=shapes,
    slot=shapes,
    offset=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
)
def test_days_touched_holds_every_typed_slot_whose_buffers_meet_it(
    zone_name: str, minute: int, appointment: Shape, slot: Shape, offset: float
) -> None:
    """A booking over blocked range B drops the cached lists of every day on which a typed
    slot whose own blocked range meets B can start."""
    zone = ZoneInfo(zone_name)
    start = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=minute)
    b_from = start - dt.timedelta(minutes=appointment.before)
    b_to = start + dt.timedelta(minutes=appointment.minutes + appointment.after)
    # A slot's blocked range [s - before, s + minutes + after) meets [b_from, b_to) exactly
    # when s lies in (b_from - minutes - after, b_to + before).
    low = b_from - dt.timedelta(minutes=slot.minutes + slot.after)
    high = b_to + dt.timedelta(minutes=slot.before)
    slot_start = low + (high - low) * offset
    assert slot_start.astimezone(zone).date() in days_touched(b_from, b_to, zone)
