"""Slot generation across time zones and daylight-saving changes (pure functions)."""

from __future__ import annotations

import datetime as dt
import itertools
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careslot.scheduling.slots import (
    MAX_SLOT,
    BusyTimes,
    Slot,
    WorkingWindow,
    day_grid,
    day_slots,
    days_between,
    days_touched,
    free_slots,
    to_instant,
)

UTC = dt.UTC
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"]
FIRST, LAST = dt.date(2020, 1, 1), dt.date(2030, 12, 31)


@cache
def transition_days(zone_name: str) -> list[dt.date]:
    """Days on which the zone's UTC offset changes, 2020-2030."""
    zone = ZoneInfo(zone_name)
    out = []
    day = FIRST
    while day <= LAST:
        start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        after = (start.astimezone(UTC) + dt.timedelta(days=1)).astimezone(zone)
        if start.utcoffset() != after.utcoffset():
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def wall_exists(day: dt.date, wall: dt.time, zone: ZoneInfo) -> bool:
    naive = dt.datetime.combine(day, wall)
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def ambiguous(local: dt.datetime) -> bool:
    """The wall clock shows this time twice (the hour repeated when it falls back)."""
    other = local.replace(fold=1 - local.fold)
    return other.utcoffset() != local.utcoffset()


@st.composite
def zone_and_day(draw: st.DrawFn) -> tuple[ZoneInfo, dt.date]:
    name = draw(st.sampled_from(ZONES))
    days = transition_days(name)
    near = st.sampled_from(days).flatmap(
        lambda d: st.integers(-1, 1).map(lambda k: d + dt.timedelta(days=k))
    )
    day = draw(st.one_of(st.dates(FIRST, LAST), near) if days else st.dates(FIRST, LAST))
    return ZoneInfo(name), day


minutes_of_day = st.integers(0, 24 * 60 - 1).map(lambda m: dt.time(m // 60, m % 60))


@st.composite
def windows_for(draw: st.DrawFn, weekday: int) -> list[WorkingWindow]:
    """1-3 non-overlapping windows on `weekday` (the database forbids overlapping ones)."""
    cuts = sorted(draw(st.lists(st.integers(0, 24 * 60 - 1), min_size=2, max_size=6, unique=True)))
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    return [
        WorkingWindow(weekday, dt.time(a // 60, a % 60), dt.time(b // 60, b % 60)) for a, b in pairs
    ]


def check_slots(
    slots: list[Slot], day: dt.date, windows: list[WorkingWindow], minutes: int, zone: ZoneInfo
) -> None:
    step = dt.timedelta(minutes=minutes)
    bounds = [(to_instant(day, w.start, zone), to_instant(day, w.end, zone)) for w in windows]
    for slot in slots:
        assert slot.start.tzinfo is not None
        assert slot.end - slot.start == step, "every slot has its nominal length"
        local = slot.start.astimezone(zone)
        assert local.date() == day
        assert wall_exists(day, local.time().replace(tzinfo=None), zone) or local.fold == 1
        assert any(s <= slot.start and slot.end <= e for s, e in bounds), (
            "each slot lies inside a working window"
        )
        if not ambiguous(local):
            # A window is the real time between the clock first showing its start and
            # showing its end; when the clock falls back inside it, the repeated hour shows
            # wall times from before the start again, so only unambiguous ones are checked.
            assert any(w.start <= local.time() < w.end for w in windows), (
                "its wall time is within the working window"
            )
    starts = [s.start for s in slots]
    assert starts == sorted(set(starts)), "strictly increasing, no duplicates"
    for before, after in itertools.pairwise(slots):
        assert before.end <= after.start, "no overlaps"


@settings(max_examples=250, deadline=None)
@given(
    data=st.data(), zd=zone_and_day(), minutes=st.sampled_from([5, 10, 15, 20, 30, 45, 60, 90, 240])
)
def test_day_slots_properties(
    data: st.DataObject, zd: tuple[ZoneInfo, dt.date], minutes: int
) -> None:
    zone, day = zd
    windows = data.draw(windows_for(day.isoweekday()))
    other_day = WorkingWindow(day.isoweekday() % 7 + 1, dt.time(0), dt.time(23, 59))
    slots = day_slots(day, [*windows, other_day], minutes, zone)
    check_slots(slots, day, windows, minutes, zone)
    # Nothing is lost either: each window yields as many slots as fit in its real length.
    step = dt.timedelta(minutes=minutes)
    expected = sum(
        (to_instant(day, w.end, zone) - to_instant(day, w.start, zone)) // step
        for w in windows
        if to_instant(day, w.end, zone) > to_instant(day, w.start, zone)
    )
    assert len(slots) == expected


@settings(max_examples=200, deadline=None)
@given(zd=zone_and_day(), wall=minutes_of_day)
def test_to_instant_is_a_real_instant_showing_that_wall_time(
    zd: tuple[ZoneInfo, dt.date], wall: dt.time
) -> None:
    zone, day = zd
    instant = to_instant(day, wall, zone)
    local = instant.astimezone(zone)
    naive = dt.datetime.combine(day, wall)
    if wall_exists(day, wall, zone):
        assert local.replace(tzinfo=None) == naive
        assert local.fold == 0, "the first of two instants when the wall time shows twice"
    else:
        # Inside a spring-forward gap: the first instant after the gap.
        assert local.replace(tzinfo=None) > naive
        just_before = (instant - dt.timedelta(seconds=1)).astimezone(zone)
        assert just_before.utcoffset() != local.utcoffset()
        assert just_before.replace(tzinfo=None) < naive


@settings(max_examples=200, deadline=None)
@given(
    zd=zone_and_day(),
    minutes=st.sampled_from([15, 20, 30]),
    busy_offsets=st.lists(st.tuples(st.integers(0, 36 * 60), st.integers(1, 300)), max_size=6),
    earliest_h=st.integers(-24, 24),
    latest_h=st.integers(0, 48),
)
def test_free_slots_avoid_busy_times_and_respect_the_window(
    zd: tuple[ZoneInfo, dt.date],
    minutes: int,
    busy_offsets: list[tuple[int, int]],
    earliest_h: int,
    latest_h: int,
) -> None:
    zone, day = zd
    windows = [
        WorkingWindow(day.isoweekday(), dt.time(0), dt.time(4)),
        WorkingWindow(day.isoweekday(), dt.time(9), dt.time(17)),
    ]
    base = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(UTC)
    busy_list = [
        (base + dt.timedelta(minutes=a), base + dt.timedelta(minutes=a + n))
        for a, n in busy_offsets
    ]
    earliest = base + dt.timedelta(hours=earliest_h)
    latest = base + dt.timedelta(hours=latest_h)
    free = free_slots(
        days=[day],
        windows=windows,
        slot_minutes=minutes,
        zone=zone,
        busy=BusyTimes(busy_list),
        earliest=earliest,
        latest=latest,
    )
    every = day_slots(day, windows, minutes, zone)
    expected = [
        s
        for s in every
        if earliest <= s.start <= latest
        and not any(b0 < s.end and s.start < b1 for b0, b1 in busy_list)
    ]
    assert free == expected


@given(
    intervals=st.lists(st.tuples(st.integers(0, 500), st.integers(1, 60)), max_size=12),
    probe=st.tuples(st.integers(0, 560), st.integers(1, 60)),
)
def test_busy_times_overlap_matches_brute_force(
    intervals: list[tuple[int, int]], probe: tuple[int, int]
) -> None:
    base = dt.datetime(2026, 1, 1, tzinfo=UTC)

    def at(m: int) -> dt.datetime:
        return base + dt.timedelta(minutes=m)

    busy = BusyTimes([(at(a), at(a + n)) for a, n in intervals])
    start, end = at(probe[0]), at(probe[0] + probe[1])
    brute = any(at(a) < end and start < at(a + n) for a, n in intervals)
    assert busy.overlaps(start, end) == brute


# --- explicit examples on the 2026 changes --------------------------------------------

NY = ZoneInfo("America/New_York")
MIDNIGHT_TO_FOUR = [WorkingWindow(7, dt.time(0), dt.time(4))]  # both 2026 changes are Sundays


def _walls(slots: list[Slot], zone: ZoneInfo) -> list[str]:
    return [s.start.astimezone(zone).strftime("%H:%M%z") for s in slots]


def test_new_york_spring_forward_2026() -> None:
    day = dt.date(2026, 3, 8)
    slots = day_slots(day, MIDNIGHT_TO_FOUR, 30, NY)
    # 02:00-03:00 does not exist: three real hours, six slots, none at 02:xx.
    assert _walls(slots, NY) == [
        "00:00-0500",
        "00:30-0500",
        "01:00-0500",
        "01:30-0500",
        "03:00-0400",
        "03:30-0400",
    ]
    assert slots[3].end == slots[4].start
    check_slots(slots, day, MIDNIGHT_TO_FOUR, 30, NY)


def test_new_york_fall_back_2026() -> None:
    day = dt.date(2026, 11, 1)
    slots = day_slots(day, MIDNIGHT_TO_FOUR, 60, NY)
    # 01:00-02:00 happens twice: five real hours, five one-hour slots, each instant once.
    assert _walls(slots, NY) == [
        "00:00-0400",
        "01:00-0400",
        "01:00-0500",
        "02:00-0500",
        "03:00-0500",
    ]
    assert [s.start.astimezone(UTC).hour for s in slots] == [4, 5, 6, 7, 8]
    check_slots(slots, day, MIDNIGHT_TO_FOUR, 60, NY)


def test_window_starting_inside_the_gap() -> None:
    day = dt.date(2026, 3, 8)
    window = [WorkingWindow(7, dt.time(2, 30), dt.time(4))]
    slots = day_slots(day, window, 30, NY)
    assert _walls(slots, NY) == ["03:00-0400", "03:30-0400"]


def test_london_spring_forward_2026() -> None:
    london = ZoneInfo("Europe/London")
    day = dt.date(2026, 3, 29)
    slots = day_slots(day, MIDNIGHT_TO_FOUR, 60, london)
    assert _walls(slots, london) == ["00:00+0000", "02:00+0100", "03:00+0100"]


def test_london_fall_back_2026() -> None:
    london = ZoneInfo("Europe/London")
    day = dt.date(2026, 10, 25)
    slots = day_slots(day, MIDNIGHT_TO_FOUR, 60, london)
    assert _walls(slots, london) == [
        "00:00+0100",
        "01:00+0100",
        "01:00+0000",
        "02:00+0000",
        "03:00+0000",
    ]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # Lord Howe moves by 30 minutes at 02:00: spring 02:00 -> 02:30, autumn 02:00 -> 01:30.
        (
            dt.date(2026, 10, 4),
            [
                "00:00+1030",
                "00:30+1030",
                "01:00+1030",
                "01:30+1030",
                "02:30+1100",
                "03:00+1100",
                "03:30+1100",
            ],
        ),
        (
            dt.date(2026, 4, 5),
            [
                "00:00+1100",
                "00:30+1100",
                "01:00+1100",
                "01:30+1100",
                "01:30+1030",
                "02:00+1030",
                "02:30+1030",
                "03:00+1030",
                "03:30+1030",
            ],
        ),
    ],
)
def test_lord_howe_half_hour_changes(day: dt.date, expected: list[str]) -> None:
    zone = ZoneInfo("Australia/Lord_Howe")
    assert day in transition_days("Australia/Lord_Howe")
    slots = day_slots(day, MIDNIGHT_TO_FOUR, 30, zone)
    assert _walls(slots, zone) == expected
    check_slots(slots, day, MIDNIGHT_TO_FOUR, 30, zone)


def test_kolkata_has_no_changes() -> None:
    assert transition_days("Asia/Kolkata") == []
    zone = ZoneInfo("Asia/Kolkata")
    for day in days_between(dt.date(2026, 1, 1), dt.date(2026, 12, 31)):
        if day.isoweekday() == 7:
            assert len(day_slots(day, MIDNIGHT_TO_FOUR, 30, zone)) == 8


def test_days_between_is_inclusive() -> None:
    assert days_between(dt.date(2026, 2, 27), dt.date(2026, 3, 2)) == [
        dt.date(2026, 2, 27),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
    ]


NAIVE_FIRST = dt.datetime(2020, 1, 1)  # noqa: DTZ001 - hypothesis takes naive bounds
NAIVE_LAST = dt.datetime(2030, 1, 1)  # noqa: DTZ001


@settings(max_examples=300, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    start=st.datetimes(min_value=NAIVE_FIRST, max_value=NAIVE_LAST, timezones=st.just(UTC)),
    minutes=st.integers(5, 240),
    slot_minutes=st.integers(5, 240),
    offset=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
)
def test_days_touched_holds_every_slot_that_overlaps(
    zone_name: str, start: dt.datetime, minutes: int, slot_minutes: int, offset: float
) -> None:
    """Any slot overlapping the appointment starts on one of the days it names."""
    zone = ZoneInfo(zone_name)
    end = start + dt.timedelta(minutes=minutes)
    slot_length = dt.timedelta(minutes=slot_minutes)
    # A slot overlaps [start, end) exactly when it starts in (start - length, end).
    slot_start = start - slot_length + (end - start + slot_length) * offset
    days = days_touched(start, end, zone)
    assert slot_start.astimezone(zone).date() in days
    assert list(days) == sorted(set(days))
    assert len(days) <= 3


def test_days_touched_is_the_day_itself_in_office_hours() -> None:
    zone = ZoneInfo("Europe/London")
    start = dt.datetime(2026, 3, 3, 10, 0, tzinfo=zone)
    assert days_touched(start, start + dt.timedelta(minutes=30), zone) == (dt.date(2026, 3, 3),)
    early = dt.datetime(2026, 3, 3, 1, 0, tzinfo=zone)  # a long slot may start the day before
    assert days_touched(early, early + dt.timedelta(minutes=30), zone) == (
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 3),
    )
    assert MAX_SLOT == dt.timedelta(minutes=240)


@pytest.mark.parametrize("zone_name", ZONES)
def test_the_remembered_day_grid_is_the_day_s_slots(zone_name: str) -> None:
    """day_grid (the booking's check, the slot lists) answers what day_slots computes, on
    ordinary days and on daylight-saving days, and computes each day once."""
    zone = ZoneInfo(zone_name)
    days = [dt.date(2026, 3, 2), *transition_days(zone_name)[:4]]
    for day in days:
        windows = tuple(
            WorkingWindow(day.isoweekday(), start, end)
            for start, end in ((dt.time(0, 30), dt.time(4)), (dt.time(9), dt.time(17)))
        )
        grid = day_grid(day, windows, 25, zone, 5, 10)
        assert list(grid) == day_slots(day, windows, 25, zone, before=5, after=10)
        assert day_grid(day, windows, 25, zone, 5, 10) is grid
