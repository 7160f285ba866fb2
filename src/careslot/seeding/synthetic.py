"""The synthetic hospital `careslot seed` loads: pure, deterministic row generation.

No database here. Every appointment sits on one of its doctor's real slots (day_slots in
the hospital's zone), a doctor never has two, and each patient belongs to exactly one
doctor's panel, so no patient is ever booked twice at once either: the exclusion
constraints hold by construction, and the database still checks them.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from careslot.scheduling.slots import WorkingWindow, day_slots, days_between

PAST_DAYS = 730
DEFAULT_APPOINTMENTS_PER_DOCTOR = 7_000
MAX_FUTURE_PER_PATIENT = 4  # well under the booking limit, so seeded patients can book
PAST_FILL = 0.85
FUTURE_FILL = 0.5  # the next day; it falls off linearly towards the horizon

DEPARTMENTS = [  # name, colour, description, specialties
    ("Cardiology", "#b91c1c", "Heart and circulation", ["Cardiologist", "Electrophysiologist"]),
    ("Dermatology", "#a16207", "Skin, hair and nails", ["Dermatologist"]),
    ("General Practice", "#15803d", "Family medicine and check-ups", ["General practitioner"]),
    ("Paediatrics", "#1d4ed8", "Care for children and teenagers", ["Paediatrician"]),
    ("Orthopaedics", "#7c3aed", "Bones, joints and muscles", ["Orthopaedic surgeon"]),
    ("Neurology", "#0e7490", "Brain, spine and nerves", ["Neurologist"]),
    ("Ophthalmology", "#c2410c", "Eyes and vision", ["Ophthalmologist"]),
    ("ENT", "#be185d", "Ear, nose and throat", ["Otolaryngologist"]),
    (
        "Obstetrics & Gynaecology",
        "#db2777",
        "Pregnancy and women's health",
        ["Obstetrician", "Gynaecologist"],
    ),
    ("Oncology", "#4d7c0f", "Cancer care", ["Oncologist"]),
    ("Psychiatry", "#4338ca", "Mental health", ["Psychiatrist"]),
    ("Endocrinology", "#0f766e", "Diabetes, thyroid and hormones", ["Endocrinologist"]),
]
FIRST_NAMES = (
    "Amara Lena Kenji Sofia Daniel Priya Omar Hannah Mateo Yuki Chloe Tariq Ingrid Luca "
    "Fatima Noah Aisha Jonas Mei Elena Samuel Zara Felix Nadia Tomas Grace Ravi Leila "
    "Oliver Anya Kwame Clara Hugo Sana Isaac Maya Pablo Freya Arjun Eva"
).split()
LAST_NAMES = (
    "Okafor Fischer Watanabe Rossi Mensah Nair Haddad Berg Silva Tanaka Dubois Khan "
    "Larsen Moreau Novak Costa Ahmed Schmidt Lopez Ivanova Kowalski Osei Martin Rahman "
    "Jensen Petrov Garcia Sato Nilsson Mwangi Laurent Weber Chen Andersen Romero Ali"
).split()
REASONS = [
    "Consultation",
    "Follow-up",
    "Check-up",
    "Test results",
    "Prescription review",
    "New symptoms",
    "Referral",
    "Vaccination",
    "Annual review",
    "Second opinion",
]
MORNINGS = [(time(9), time(12, 30)), (time(8), time(12))]
AFTERNOONS = [(time(13, 30), time(17)), (time(13), time(16))]
SATURDAY = (time(9), time(13))
SLOT_MINUTES = [15, 20, 30]


@dataclass(frozen=True, slots=True)
class Template:
    """A weekly timetable: shared by many doctors, so its slots are computed once."""

    slot_minutes: int
    windows: tuple[WorkingWindow, ...]


@dataclass(frozen=True, slots=True)
class DoctorPlan:
    number: int
    name: str
    department: int  # index into DEPARTMENTS
    specialty: str
    template: Template
    target: int  # appointments to load for this doctor
    rng_seed: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """One template's slots from PAST_DAYS ago to the horizon, split at `now`."""

    starts: list[datetime]
    ends: list[datetime]
    first_future: int
    future_weights: list[float]  # relative chance that each future slot is taken

    @property
    def past(self) -> int:
        return self.first_future

    def capacity(self) -> float:
        return PAST_FILL * self.past + sum(self.future_weights)


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def timetable(rng: random.Random) -> Template:
    minutes = rng.choices(SLOT_MINUTES, weights=[3, 4, 3])[0]
    morning, afternoon = rng.choice(MORNINGS), rng.choice(AFTERNOONS)
    windows = [WorkingWindow(wd, *half) for wd in range(1, 6) for half in (morning, afternoon)]
    if rng.random() < 0.25:  # some doctors take Saturday morning clinics
        windows.append(WorkingWindow(6, *SATURDAY))
    return Template(minutes, tuple(windows))


def timeline(
    template: Template, *, now: datetime, zone: ZoneInfo, today: date, horizon_days: int
) -> Timeline:
    starts: list[datetime] = []
    ends: list[datetime] = []
    for day in days_between(
        today - timedelta(days=PAST_DAYS), today + timedelta(days=horizon_days)
    ):
        for slot in day_slots(day, template.windows, template.slot_minutes, zone):
            starts.append(slot.start)
            ends.append(slot.end)
    first_future = bisect.bisect_left(starts, now)
    span = timedelta(days=horizon_days + 30).total_seconds()
    weights = [
        FUTURE_FILL * max(0.0, 1 - (s - now).total_seconds() / span) for s in starts[first_future:]
    ]
    return Timeline(starts, ends, first_future, weights)


def plan_doctors(
    *,
    count: int,
    appointments: int,
    seed: int,
    first_number: int,
    timeline_of: Callable[[Template], Timeline],
) -> list[DoctorPlan]:
    """Doctors with timetables, and each one's share of the appointments (by capacity)."""
    rng = random.Random(f"careslot-doctors:{seed}:{first_number}")
    drafts = []
    for i in range(count):
        department = i % len(DEPARTMENTS)
        drafts.append(
            (
                f"Dr. {person_name(rng)}",
                department,
                rng.choice(DEPARTMENTS[department][3]),
                timetable(rng),
            )
        )
    capacity = [timeline_of(t).capacity() for *_, t in drafts]
    total = sum(capacity)
    targets = [math.floor(appointments * c / total) if total else 0 for c in capacity]
    for i in range(appointments - sum(targets)):  # the remainder, one each
        targets[i % count] += 1
    return [
        DoctorPlan(
            first_number + i,
            name,
            dept,
            spec,
            tmpl,
            targets[i],
            f"careslot-doctor:{seed}:{first_number + i}",
        )
        for i, (name, dept, spec, tmpl) in enumerate(drafts)
    ]


def check_capacity(plans: Sequence[DoctorPlan], timelines: dict[Template, Timeline]) -> None:
    for plan in plans:
        line = timelines[plan.template]
        if plan.target > line.past + sum(line.future_weights):
            raise ValueError(
                f"{plan.target} appointments do not fit in one doctor's calendar; "
                "ask for more --doctors (or leave it out)"
            )


def zipf_cum_weights(n: int) -> list[float]:
    """A few patients of a panel visit far more often than most (long-term conditions)."""
    return list(itertools.accumulate(1 / (rank + 4) ** 0.9 for rank in range(n)))


Row = tuple[int, int, int, datetime, datetime, str, str, int, datetime, datetime]
_LEADS = [timedelta(hours=h) for h in (2, 5, 20, 26, 50, 74, 120, 170, 240, 340, 500, 720)]
_RECENT = [timedelta(minutes=m) for m in (7, 45, 130, 600, 1500, 4000, 9000, 20000)]


def doctor_rows(
    plan: DoctorPlan,
    line: Timeline,
    *,
    doctor_id: int,
    department_id: int,
    panel: Sequence[int],
    now: datetime,
) -> list[Row]:
    """This doctor's appointments, on its slots, for patients of its panel only."""
    rng = random.Random(plan.rng_seed)
    scale = min(1.0, plan.target / line.capacity()) if line.capacity() else 0.0
    future = [
        line.first_future + i for i, w in enumerate(line.future_weights) if rng.random() < w * scale
    ][: plan.target]
    past_n = min(plan.target - len(future), line.past)
    past = sorted(rng.sample(range(line.past), past_n))

    order = list(panel)
    rng.shuffle(order)  # who the frequent visitors are differs per panel
    cum = zipf_cum_weights(len(order))
    patients = rng.choices(order, cum_weights=cum, k=past_n + len(future))
    patients = patients[:past_n] + _cap_future(patients[past_n:], order, rng)
    future = future[: len(patients) - past_n]

    starts, ends = line.starts, line.ends
    reasons, leads, recent = REASONS, _LEADS, _RECENT
    rand = rng.random
    rows: list[Row] = []
    append = rows.append
    for slot, client in zip(itertools.chain(past, future), patients, strict=True):
        start, end = starts[slot], ends[slot]
        created = start - leads[int(rand() * 12)]
        r = rand()
        if slot < line.first_future:
            status = "completed" if r < 0.85 else "no_show" if r < 0.91 else "cancelled"
            updated = end if r < 0.91 else created + (start - created) / 2
            if end > now:  # under way right now
                status, updated = "checked_in", start
        else:
            status = "cancelled" if r < 0.07 else "confirmed" if r < 0.47 else "scheduled"
            if created > now:
                created = now - recent[int(rand() * 8)]
            updated = min(now, created + (start - created) / 2) if r < 0.07 else created
        append(
            (
                client,
                doctor_id,
                department_id,
                start,
                end,
                status,
                reasons[int(r * 1000) % 10],
                client,
                created,
                updated,
            )
        )
    return rows


def _cap_future(patients: list[int], order: Sequence[int], rng: random.Random) -> list[int]:
    """Move future visits off patients who already hold MAX_FUTURE_PER_PATIENT of them;
    drop the visits nobody in the panel has room for."""
    counts: dict[int, int] = {}
    spare = rng.sample(list(order), len(order))
    out: list[int] = []
    for client in patients:
        while counts.get(client, 0) >= MAX_FUTURE_PER_PATIENT and spare:
            client = spare.pop()
        if counts.get(client, 0) >= MAX_FUTURE_PER_PATIENT:
            break
        counts[client] = counts.get(client, 0) + 1
        out.append(client)
    return out


def panels(patient_ids: Sequence[int], doctors: int) -> Iterator[Sequence[int]]:
    """Disjoint patient panels, one per doctor."""
    size, extra = divmod(len(patient_ids), doctors)
    at = 0
    for i in range(doctors):
        n = size + (i < extra)
        yield patient_ids[at : at + n]
        at += n
