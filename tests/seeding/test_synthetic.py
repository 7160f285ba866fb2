"""The synthetic hospital's rows, without a database: deterministic and within the rules."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from careslot.seeding import synthetic as syn
from careslot.seeding.bulk import SeedRefused, sizes

ZONE = ZoneInfo("Europe/London")
NOW = datetime(2026, 3, 20, 11, 7, tzinfo=UTC)


@cache
def timeline_of(template: syn.Template) -> syn.Timeline:
    return syn.timeline(template, now=NOW, zone=ZONE, today=date(2026, 3, 20), horizon_days=90)


def hospital(
    seed: int, appointments: int = 30_000, doctors: int = 12, patients: int = 1_200
) -> list[list[syn.Row]]:
    plans = syn.plan_doctors(
        count=doctors, appointments=appointments, seed=seed, first_number=1, timeline_of=timeline_of
    )
    panels = syn.panels(list(range(1, patients + 1)), doctors)
    return [
        syn.doctor_rows(
            p, timeline_of(p.template), doctor_id=p.number, department_id=1, panel=panel, now=NOW
        )
        for p, panel in zip(plans, panels, strict=True)
    ]


def test_same_seed_same_hospital_other_seed_other_one() -> None:
    assert hospital(3) == hospital(3)
    assert hospital(3) != hospital(4)


def test_rows_keep_the_rules() -> None:
    doctors = hospital(5)
    assert sum(len(rows) for rows in doctors) == 30_000
    panels: dict[int, int] = {}
    for rows in doctors:
        starts = [r[3] for r in rows]
        assert len(set(starts)) == len(starts)  # a doctor's slot is booked once
        for r in rows:
            assert panels.setdefault(r[0], r[1]) == r[1]  # a patient sees one doctor
            assert r[8] <= NOW  # nothing was booked in the future
            if r[3] >= NOW:
                assert r[5] in {"scheduled", "confirmed", "cancelled"}
    live_future = Counter(
        r[0] for rows in doctors for r in rows if r[3] >= NOW and r[5] != "cancelled"
    )
    assert max(live_future.values()) <= syn.MAX_FUTURE_PER_PATIENT
    visits = Counter(r[0] for rows in doctors for r in rows)
    assert max(visits.values()) > 5 * (30_000 / 1_200)  # some patients are frequent visitors


def test_a_request_that_cannot_fit_is_refused() -> None:
    plans = syn.plan_doctors(
        count=1, appointments=100_000, seed=1, first_number=1, timeline_of=timeline_of
    )
    with pytest.raises(ValueError, match="more --doctors"):
        syn.check_capacity(plans, {p.template: timeline_of(p.template) for p in plans})
    with pytest.raises(SeedRefused, match="at least --doctors"):
        sizes(appointments=10, patients=2, doctors=3)
    assert sizes(appointments=1_000_000, patients=None, doctors=None) == (143, 100_000)
