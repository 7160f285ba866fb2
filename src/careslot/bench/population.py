"""Who the bench plays: logged-in patients (Zipf-ranked) and staff, doctors, free slots.

Everything the Lua workload needs is fetched over HTTP (logins, slots) or read from the
database (who exists) before a run and written to one Lua data file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from careslot.accounts.passwords import Passwords
from careslot.config import Settings
from careslot.seeding.bulk import SEED_PASSWORD

SEEDED_PATIENTS = "%@seed.careslot"  # email LIKE pattern of the bulk seeder's patients
STAFF_PASSWORD = "careslot-bench-staff"  # noqa: S105 - a bench account on a bench database
STAFF_EMAILS = ("bench-staff1@bench.careslot", "bench-staff2@bench.careslot")
ZIPF_EXPONENT = 1.1
ZIPF_DRAWS = 10_000
BOOKING_REASON = "careslot bench"  # marks the bench's own bookings, to tidy them up later

Span = tuple[dt.datetime, dt.datetime]  # an appointment's start and end


@dataclass(slots=True)
class Population:
    patients: list[dict[str, Any]]  # {id, email, token}, most active first
    staff: list[str]  # tokens
    doctors: list[dict[str, Any]]  # {id, department}
    departments: list[int]
    days: list[str]
    slots: list[tuple[int, str]]  # free (doctorId, start) pairs
    # The booking phase's own slots, per cache mode: [patient index (1-based), doctorId,
    # start], on days no other phase books, no two overlapping for one patient.
    plans: dict[str, list[list[Any]]]
    today: dt.date
    source: str  # who seeded the patients, for the report
    notes: list[str] = field(default_factory=list)


async def _read_catalog(url: str, *, patients: int, pattern: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "select id, email from users where role = 'patient' and is_active "
            "and email like $1 order by id limit $2",
            pattern,
            patients,
        )
        doctors = await conn.fetch(
            "select id, department_id from doctors where is_active order by id"
        )
        departments = await conn.fetch("select id from departments where is_active order by id")
        booked = await conn.fetch(
            "select client_id, starts_at, ends_at from appointments "
            "where client_id = any($1::bigint[]) and status <> 'cancelled' and ends_at > now()",
            [r["id"] for r in rows],
        )
        staff_hash = Passwords.from_settings(Settings()).hash(STAFF_PASSWORD)
        for i, email in enumerate(STAFF_EMAILS, start=1):
            await conn.execute(
                "insert into users (email, password_hash, name, role) "
                "select $1, $2, $3, 'staff' where not exists "
                "(select 1 from users where lower(email) = lower($1))",
                email,
                staff_hash,
                f"Bench Desk {i}",
            )
        spans: dict[int, list[Span]] = {}
        for b in booked:
            spans.setdefault(b["client_id"], []).append((b["starts_at"], b["ends_at"]))
        return {
            "patients": [{**dict(r), "booked": spans.get(r["id"], [])} for r in rows],
            "doctors": [{"id": r["id"], "department": r["department_id"]} for r in doctors],
            "departments": [r["id"] for r in departments],
        }
    finally:
        await conn.close()


async def _login_all(base_url: str, logins: list[tuple[str, str]]) -> list[str | None]:
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:

        async def login(email: str, password: str) -> str | None:
            async with gate:
                answer = await client.post(
                    "/api/auth/login", json={"email": email, "password": password}
                )
            return str(answer.json()["token"]) if answer.status_code == 200 else None

        return list(await asyncio.gather(*(login(e, p) for e, p in logins)))


async def _free_slots(
    base_url: str, doctors: list[dict[str, Any]], first: dt.date, last: dt.date
) -> list[tuple[int, str, str]]:
    """(doctorId, start, end) of every free slot, asked a month at a time."""
    gate = asyncio.Semaphore(8)
    months = []
    while first <= last:
        months.append((first, min(last, first + dt.timedelta(days=30))))
        first += dt.timedelta(days=31)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:

        async def fetch(doctor_id: int, start: dt.date, end: dt.date) -> list[tuple[int, str, str]]:
            async with gate:
                answer = await client.get(
                    "/api/slots",
                    params={
                        "doctorId": doctor_id,
                        "from": start.isoformat(),
                        "to": end.isoformat(),
                    },
                )
            answer.raise_for_status()
            return [(doctor_id, s["start"], s["end"]) for s in answer.json()["slots"]]

        found = await asyncio.gather(*(fetch(d["id"], a, b) for d in doctors for a, b in months))
    return [slot for slots in found for slot in slots]


def booking_plan(
    slots: list[tuple[int, str, str]], patients: int, booked: Sequence[Sequence[Span]] = ()
) -> list[list[Any]]:
    """Hand the slots to patients in turn, in time order, skipping a patient whose last slot
    is not over yet or who is `booked` then already (a patient cannot be in two places, and
    the seeder booked them too): every booking can succeed."""
    plan: list[list[Any]] = []
    busy_until = [""] * patients
    turn = 0
    for doctor_id, start, end in sorted(slots, key=lambda s: (s[1], s[0])):
        span = (dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))
        for _ in range(patients):
            turn = turn % patients + 1
            free = busy_until[turn - 1] <= start  # ISO instants in UTC compare as text
            if free and turn <= len(booked):
                free = not any(a < span[1] and span[0] < b for a, b in booked[turn - 1])
            if free:
                busy_until[turn - 1] = end
                plan.append([turn, doctor_id, start])
                break
    random.Random(17).shuffle(plan)  # spread the load over doctors and days
    return plan


def gather(
    *,
    base_url: str,
    database_url: str,
    patients: int,
    doctors_for_slots: int,
    plans: tuple[str, ...] = (),
    zone: dt.tzinfo,
) -> Population:
    """Log in the bench's patients and staff over HTTP; collect free slots to book."""
    pattern, password, source = SEEDED_PATIENTS, SEED_PASSWORD, "bulk seeder"
    catalog = asyncio.run(_read_catalog(database_url, patients=patients, pattern=pattern))
    rows = catalog["patients"]
    booked = {r["id"]: r.pop("booked") for r in rows}  # their live appointments: plan around
    tokens = asyncio.run(
        _login_all(
            base_url,
            [(r["email"], password) for r in rows]
            + [(email, STAFF_PASSWORD) for email in STAFF_EMAILS],
        )
    )
    patient_tokens, staff_tokens = tokens[: len(rows)], tokens[len(rows) :]
    logged = [
        {"id": r["id"], "email": r["email"], "token": t}
        for r, t in zip(rows, patient_tokens, strict=True)
        if t
    ]
    if not logged or not all(staff_tokens):
        raise RuntimeError(
            f"bench logins failed ({len(logged)} patients, staff "
            f"{sum(bool(t) for t in staff_tokens)}/{len(STAFF_EMAILS)})"
        )
    today = dt.datetime.now(zone).date()
    # Slots from the day after tomorrow: clear of the minimum notice for the whole run.
    first, last = today + dt.timedelta(days=2), today + dt.timedelta(days=15)
    ranked = _rank(catalog["doctors"], seed=7)
    slots = [
        (d, start)
        for d, start, _ in asyncio.run(
            _free_slots(base_url, ranked[:doctors_for_slots], first, last)
        )
    ]
    # The booking phase: the days after the other phases' (which book within two weeks),
    # up to the 90-day horizon, split between the modes.
    booking_plans: dict[str, list[list[Any]]] = {}
    days = (88 - 16 + 1) // max(1, len(plans))
    for i, name in enumerate(plans):
        start = today + dt.timedelta(days=16 + i * days)
        found = asyncio.run(
            _free_slots(base_url, ranked, start, start + dt.timedelta(days=days - 1))
        )
        if not found:
            raise RuntimeError(f"no free slots for the booking phase ({name}) after day 16")
        booking_plans[name] = booking_plan(found, len(logged), [booked[p["id"]] for p in logged])
    notes = [f"{len(logged)} patients logged in ({source}); Zipf s={ZIPF_EXPONENT}"]
    return Population(
        patients=logged,
        staff=[t for t in staff_tokens if t],
        doctors=ranked,
        departments=catalog["departments"],
        days=[(today + dt.timedelta(days=i)).isoformat() for i in range(7)],
        slots=slots,
        plans=booking_plans,
        today=today,
        source=source,
        notes=notes,
    )


def _rank(items: list[dict[str, Any]], *, seed: int) -> list[dict[str, Any]]:
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def zipf_draws(n: int, *, seed: int, draws: int = ZIPF_DRAWS) -> list[int]:
    """1-based indexes into a list of n, rank k drawn with weight 1/k^s."""
    weights = [1.0 / (k**ZIPF_EXPONENT) for k in range(1, n + 1)]
    return random.Random(seed).choices(range(1, n + 1), weights=weights, k=draws)


def to_lua(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"[{to_lua(k)}]={to_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ",".join(to_lua(v) for v in value) + "}"
    raise TypeError(f"no Lua form for {type(value).__name__}")


# Items per Lua function in the data file. LuaJIT refuses a function with more than 65,536
# constants, and every table literal in a list is one: the full bench's booking plans (about
# 100,000 bookings) made wrk fail to load the file ("main function has more than 65536
# constants"). Longer lists are built from chunks, each returned by a function of its own.
LUA_CHUNK = 2_000


def lua_assignments(target: str, value: Any) -> Iterator[str]:
    """Lua statements that set `target` to `value`, no function holding more than LUA_CHUNK
    items of a list."""
    if isinstance(value, dict) and any(
        isinstance(v, dict) or (isinstance(v, list | tuple) and len(v) > LUA_CHUNK)
        for v in value.values()
    ):
        yield f"{target} = {{}}"
        for key, item in value.items():
            yield from lua_assignments(f"{target}[{to_lua(key)}]", item)
    elif isinstance(value, list | tuple) and len(value) > LUA_CHUNK:
        yield f"{target} = {{}}"
        for i in range(0, len(value), LUA_CHUNK):
            part = to_lua(value[i : i + LUA_CHUNK])
            yield (
                f"for _, x in ipairs((function() return {part} end)()) do "
                f"{target}[#{target} + 1] = x end"
            )
    else:
        yield f"{target} = {to_lua(value)}"


def write_lua_data(
    path: Path, population: Population, *, run_id: str, book_slots: list[tuple[int, str]]
) -> Path:
    """The Lua data file that workload.lua loads with dofile()."""
    data = {
        "run_id": run_id,
        "reason": BOOKING_REASON,
        "today_iso": population.today.isoformat() + "T00:00:00Z",
        "patients": population.patients,
        "staff": population.staff,
        "doctors": [{"id": d["id"]} for d in population.doctors],
        "departments": population.departments,
        "days": population.days,
        "zipf_patients": zipf_draws(len(population.patients), seed=11),
        "zipf_doctors": zipf_draws(len(population.doctors), seed=13),
        "book_slots": [list(s) for s in book_slots],
        "all_slots": [list(s) for s in population.slots],
        "plans": population.plans,
    }
    path.write_text(
        "local D\n" + "\n".join(lua_assignments("D", data)) + "\n"
        "D.patient_by_id = {}\n"
        "for _, p in ipairs(D.patients) do D.patient_by_id[p.id] = p end\n"
        "D.slots_by_doctor = {}\n"
        "for _, s in ipairs(D.all_slots) do\n"
        "  local list = D.slots_by_doctor[s[1]] or {}\n"
        "  table.insert(list, s[2]); D.slots_by_doctor[s[1]] = list\n"
        "end\n"
        "return D\n"
    )
    return path
