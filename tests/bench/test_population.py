"""The bench's booking plan: every planned booking can succeed, so the booking phase measures
bookings, not refusals."""

from __future__ import annotations

import datetime as dt

from careslot.bench.population import booking_plan

UTC = dt.UTC


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 1, 28, hour, minute, tzinfo=UTC)


def slot(doctor: int, hour: int, minute: int = 0) -> tuple[int, str, str]:
    return (
        doctor,
        at(hour, minute).isoformat(),
        (at(hour, minute) + dt.timedelta(minutes=20)).isoformat(),
    )


def test_no_patient_is_planned_in_two_places_nor_over_what_they_booked_already() -> None:
    slots = [slot(1, 9), slot(2, 9), slot(3, 9), slot(1, 10), slot(2, 10, 10)]
    booked = [[(at(9, 10), at(9, 30))], []]  # patient 1 is at another doctor's from 9:10
    plan = booking_plan(slots, 2, booked)
    by_patient: dict[int, list[str]] = {}
    for patient, _doctor, start in plan:
        by_patient.setdefault(patient, []).append(start)
    assert at(9).isoformat() not in by_patient[1]  # 9:00-9:20 overlaps 9:10-9:30
    assert by_patient[2].count(at(9).isoformat()) == 1  # one of the three 9:00 slots only
    assert sorted(by_patient[1]) == [at(10).isoformat()]
    assert len(plan) == 3  # two 9:00 slots had nobody free: left out, not double-booked
