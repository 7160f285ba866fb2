"""`careslot seed`: load a large synthetic hospital with PostgreSQL COPY.

Re-runnable: every run appends new doctors and patients (emails continue the
patient{n}@seed.careslot numbering) and books only them, so it never collides with what is
there; departments are shared by name. The same seed on the same day gives the same
hospital.

The constraints stay in place throughout, so the app can keep serving while it loads: the
two exclusion constraints check every appointment as it is copied. Their GiST upkeep is
most of the cost (about 30 us of server CPU per row for the doctor's and 16 us for the
patient's at a million rows, against about 7 us for the heap and b-tree indexes together),
and dropping and re-adding them is no cheaper: adding one builds its index, then probes it
once per row, in one backend. So one connection per core loads disjoint doctors at once.
Foreign keys are checked in one pass per loader rather than by a trigger per row (see
_loader).

Doctors and patients are committed first; the appointments of all loaders, with the activity
trail each loader derives from its own rows, commit together at the end. If loading fails,
the new doctors and patients are deleted again.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from careslot import clock
from careslot.accounts.passwords import Passwords
from careslot.config import Settings
from careslot.seeding import synthetic as syn

SEED_PASSWORD = "careslot-seed"  # noqa: S105 - printed for the operator; synthetic data
EMAIL_DOMAIN = "seed.careslot"
STAFF_EMAIL = f"staff@{EMAIL_DOMAIN}"
COPY_BATCH = 20_000
LOADERS = max(2, min(8, os.cpu_count() or 2))  # the server's index work is the bottleneck
RECENT_ACTIVITY_DAYS = 90
APPOINTMENT_COLUMNS = (
    "client_id",
    "doctor_id",
    "department_id",
    "starts_at",
    "ends_at",
    "status",
    "reason",
    "created_by",
    "created_at",
    "updated_at",
)


class SeedRefused(ValueError):
    """The request cannot be loaded as asked (said to the operator, not a crash)."""


@dataclass(frozen=True, slots=True)
class SeedSummary:
    departments: int
    doctors: int
    patients: int
    appointments: int
    activity: int
    seconds: float
    first_patient_email: str | None


def run_bulk_seed(
    url: str,
    settings: Settings,
    *,
    appointments: int,
    patients: int | None,
    doctors: int | None,
    seed: int,
    console: Console,
) -> SeedSummary:
    try:
        summary = asyncio.run(
            _seed(
                url,
                settings,
                appointments=appointments,
                patients=patients,
                doctors=doctors,
                seed=seed,
                console=console,
            )
        )
    except SeedRefused as exc:
        console.print(f"[red]careslot seed: {exc}[/red]")
        raise SystemExit(2) from exc
    console.print(
        f"[green]Loaded {summary.appointments:,} appointments, {summary.patients:,} patients, "
        f"{summary.doctors:,} doctors, {summary.activity:,} activity rows "
        f"in {summary.seconds:.1f} s[/green]"
    )
    if summary.first_patient_email:
        console.print(
            f"  patients  {summary.first_patient_email} … (patient<n>@{EMAIL_DOMAIN})"
            f"  password: {SEED_PASSWORD}"
        )
    console.print(f"  staff     {STAFF_EMAIL}  password: {SEED_PASSWORD}")
    return summary


def sizes(*, appointments: int, patients: int | None, doctors: int | None) -> tuple[int, int]:
    n_doctors = doctors or max(
        len(syn.DEPARTMENTS), math.ceil(appointments / syn.DEFAULT_APPOINTMENTS_PER_DOCTOR)
    )
    n_patients = patients or max(n_doctors, math.ceil(appointments / 10))
    if n_patients < n_doctors:
        raise SeedRefused(
            f"--patients ({n_patients}) must be at least --doctors ({n_doctors}):"
            " each doctor books from a panel of their own patients"
        )
    return n_doctors, n_patients


async def _seed(
    url: str,
    settings: Settings,
    *,
    appointments: int,
    patients: int | None,
    doctors: int | None,
    seed: int,
    console: Console,
) -> SeedSummary:
    began = time.perf_counter()
    n_doctors, n_patients = sizes(appointments=appointments, patients=patients, doctors=doctors)
    zone, now = settings.zone, clock.SystemClock().now()
    today = clock.today(zone, now)

    @cache
    def timeline_of(template: syn.Template) -> syn.Timeline:
        return syn.timeline(
            template, now=now, zone=zone, today=today, horizon_days=settings.horizon_days
        )

    password_hash = await Passwords.from_settings(settings).hash_async(SEED_PASSWORD)
    conn = await asyncpg.connect(url)
    loaders: list[asyncpg.Connection] = []
    try:
        # One seeder at a time; the numbering of doctors and patients depends on it.
        await conn.execute("select pg_advisory_lock(hashtext('careslot.seed'))")
        with _progress(console) as progress:
            async with conn.transaction():
                first_doctor = await conn.fetchval("select count(*) + 1 from doctors")
                plans = syn.plan_doctors(
                    count=n_doctors,
                    appointments=appointments,
                    seed=seed,
                    first_number=first_doctor,
                    timeline_of=timeline_of,
                )
                try:
                    syn.check_capacity(plans, {p.template: timeline_of(p.template) for p in plans})
                except ValueError as exc:
                    raise SeedRefused(str(exc)) from exc
                departments = await _departments(conn)
                doctor_ids = await _doctors(conn, plans, departments)
                await _staff(conn, password_hash)
                patient_ids, first_email = await _patients(
                    conn,
                    count=n_patients,
                    password_hash=password_hash,
                    seed=seed,
                    progress=progress,
                )
            before = await conn.fetchval("select coalesce(max(id), 0) from appointments")
            loaders = [await _loader(url) for _ in range(LOADERS)]
            try:
                transactions = [c.transaction() for c in loaders]
                for tx in transactions:
                    await tx.start()
                loaded = await _appointments(
                    loaders,
                    plans=plans,
                    doctor_ids=doctor_ids,
                    departments=departments,
                    patient_ids=patient_ids,
                    timeline_of=timeline_of,
                    now=now,
                    progress=progress,
                )
                # Each loader checks and derives from its own (still invisible) rows, all
                # at once; the activity trail commits with the appointments it describes.
                task = progress.add_task("activity", total=None)
                await asyncio.gather(*(_check_references(c, after_id=before) for c in loaders))
                activity = sum(
                    await asyncio.gather(*(_activity(c, after_id=before, now=now) for c in loaders))
                )
                progress.update(task, total=activity, completed=activity)
                for tx in transactions:
                    await tx.commit()
            except BaseException:
                for c in loaders:
                    c.terminate()
                loaders = []
                await _forget(conn, doctor_ids=doctor_ids, patient_ids=patient_ids)
                raise
            task = progress.add_task("analyze, refresh views", total=None)
            # Statistics and the views only read what is committed; side by side.
            await asyncio.gather(
                conn.execute(
                    "analyze appointments, activity, departments, doctors, working_hours, users"
                ),
                _refresh_views(loaders[0], settings.timezone),
            )
            progress.update(task, total=1, completed=1)
    finally:
        for c in loaders:
            await c.close()
        await conn.close()
    return SeedSummary(
        len(departments),
        len(plans),
        len(patient_ids),
        loaded,
        activity,
        time.perf_counter() - began,
        first_email,
    )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def _departments(conn: asyncpg.Connection) -> dict[int, int]:
    """Department index -> id; an existing department of the same name is reused."""
    await conn.executemany(
        "insert into departments (name, color, description) values ($1, $2, $3) "
        "on conflict (name) do nothing",
        [(name, color, description) for name, color, description, _ in syn.DEPARTMENTS],
    )
    rows = await conn.fetch(
        "select id, name from departments where name = any($1::text[])",
        [d[0] for d in syn.DEPARTMENTS],
    )
    by_name = {r["name"]: r["id"] for r in rows}
    return {i: by_name[d[0]] for i, d in enumerate(syn.DEPARTMENTS)}


async def _doctors(
    conn: asyncpg.Connection, plans: list[syn.DoctorPlan], departments: dict[int, int]
) -> list[int]:
    rows = await conn.fetch(
        """insert into doctors (department_id, name, specialty, slot_minutes)
           select * from unnest($1::bigint[], $2::text[], $3::text[], $4::int[])
           returning id""",
        [departments[p.department] for p in plans],
        [p.name for p in plans],
        [p.specialty for p in plans],
        [p.template.slot_minutes for p in plans],
    )
    ids = sorted(r["id"] for r in rows)  # identity values follow the insert order
    hours = [
        (doctor_id, w.weekday, w.start, w.end)
        for doctor_id, plan in zip(ids, plans, strict=True)
        for w in plan.template.windows
    ]
    await conn.copy_records_to_table(
        "working_hours", records=hours, columns=("doctor_id", "weekday", "start_time", "end_time")
    )
    return ids


async def _staff(conn: asyncpg.Connection, password_hash: str) -> None:
    await conn.execute(
        "insert into users (email, password_hash, name, role) values ($1, $2, $3, 'staff') "
        "on conflict (lower(email)) do nothing",
        STAFF_EMAIL,
        password_hash,
        "Seed Front-Desk",
    )


async def _patients(
    conn: asyncpg.Connection, *, count: int, password_hash: str, seed: int, progress: Progress
) -> tuple[list[int], str | None]:
    """New patients patient{n}@seed.careslot, numbered on from the last run's."""
    last = await conn.fetchval(
        r"""select coalesce(max(substring(email from '^patient(\d+)@')::bigint), 0)
            from users where email like 'patient%@' || $1""",
        EMAIL_DOMAIN,
    )
    first = last + 1
    task = progress.add_task("patients", total=count)
    rng = random.Random(f"careslot-patients:{seed}:{first}")
    names = [syn.person_name(rng) for _ in range(64)]
    batch = 20_000
    for at in range(0, count, batch):
        numbers = range(first + at, first + min(count, at + batch))
        await conn.copy_records_to_table(
            "users",
            columns=("email", "password_hash", "name", "role"),
            records=[
                (f"patient{n}@{EMAIL_DOMAIN}", password_hash, names[n % 64], "patient")
                for n in numbers
            ],
        )
        progress.update(task, advance=len(numbers))
    rows = await conn.fetch(
        r"""select id, substring(email from '^patient(\d+)@')::bigint as n from users
            where email like 'patient%@' || $1 and role = 'patient'
              and substring(email from '^patient(\d+)@')::bigint >= $2""",
        EMAIL_DOMAIN,
        first,
    )
    by_number = {r["n"]: r["id"] for r in rows}
    ids = [by_number[n] for n in range(first, first + count)]
    return ids, f"patient{first}@{EMAIL_DOMAIN}" if count else None


async def _forget(
    conn: asyncpg.Connection, *, doctor_ids: list[int], patient_ids: list[int]
) -> None:
    """Undo the committed doctors and patients of a load that failed."""
    async with conn.transaction():
        await conn.execute(
            "delete from working_hours where doctor_id = any($1::bigint[])", doctor_ids
        )
        await conn.execute("delete from doctors where id = any($1::bigint[])", doctor_ids)
        await conn.execute("delete from users where id = any($1::bigint[])", patient_ids)


async def _loader(url: str) -> asyncpg.Connection:
    """A loading connection. The exclusion constraints check every row as it arrives (their
    GiST upkeep is most of the work, hence several loaders); foreign keys are checked in
    one pass per loader by _check_references instead of by a trigger per row, where the
    server lets us (superuser), and by the triggers otherwise."""
    conn = await asyncpg.connect(url)
    await conn.execute("set synchronous_commit = off")
    own_triggers = await conn.fetchval(
        "select count(*) from pg_trigger where tgrelid = 'appointments'::regclass "
        "and not tgisinternal"
    )
    if not own_triggers:  # replica mode would skip them too
        try:
            await conn.execute("set session_replication_role = replica")
        except asyncpg.InsufficientPrivilegeError:
            pass
    return conn


async def _check_references(conn: asyncpg.Connection, *, after_id: int) -> None:
    """What the skipped foreign-key triggers would have checked, for this loader's rows."""
    broken = await conn.fetchval(
        """select count(*) from appointments a
           where a.id > $1 and a.xmin = pg_current_xact_id()::xid and (
               not exists (select 1 from users u where u.id = a.client_id)
               or not exists (select 1 from users u where u.id = a.created_by)
               or not exists (select 1 from doctors d where d.id = a.doctor_id)
               or not exists (select 1 from departments p where p.id = a.department_id))""",
        after_id,
    )
    if broken:
        raise RuntimeError(f"{broken} seeded appointments point at nothing; nothing was loaded")


async def _appointments(
    conns: list[asyncpg.Connection],
    *,
    plans: list[syn.DoctorPlan],
    doctor_ids: list[int],
    departments: dict[int, int],
    patient_ids: list[int],
    timeline_of: Callable[[syn.Template], syn.Timeline],
    now: datetime,
    progress: Progress,
) -> int:
    """Generate each doctor's rows and COPY them in batches, one batch in flight per
    connection: the server maintains the indexes on every core while Python generates."""
    task = progress.add_task("appointments", total=sum(p.target for p in plans))
    idle: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    loaded = 0

    async def copy(conn: asyncpg.Connection, rows: list[syn.Row]) -> None:
        nonlocal loaded
        try:
            await conn.copy_records_to_table(
                "appointments", records=rows, columns=APPOINTMENT_COLUMNS
            )
        finally:
            idle.put_nowait(conn)
        loaded += len(rows)
        progress.update(task, advance=len(rows))

    running: list[asyncio.Task[None]] = []
    buffer: list[syn.Row] = []
    for plan, doctor_id, panel in zip(
        plans, doctor_ids, syn.panels(patient_ids, len(plans)), strict=True
    ):
        buffer += syn.doctor_rows(
            plan,
            timeline_of(plan.template),
            doctor_id=doctor_id,
            department_id=departments[plan.department],
            panel=panel,
            now=now,
        )
        if len(buffer) >= COPY_BATCH or plan is plans[-1]:
            conn = await idle.get()
            running.append(asyncio.create_task(copy(conn, buffer)))
            buffer = []
            await asyncio.sleep(0)  # let the copy start sending before generating more
    await asyncio.gather(*running)
    return loaded


async def _activity(conn: asyncpg.Connection, *, after_id: int, now: datetime) -> int:
    """What the patients would see as recent activity: bookings and status changes of the
    last RECENT_ACTIVITY_DAYS (older history is in the appointments themselves), for the
    appointments this connection loaded."""
    status = await conn.execute(
        """insert into activity (at, actor_id, client_id, appointment_id, kind, summary)
           select e.at, a.client_id, a.client_id, a.id, e.kind, e.summary
           from appointments a
           join doctors d on d.id = a.doctor_id
           cross join lateral (values
               (a.created_at, 'booked', 'Booked with ' || d.name),
               (a.updated_at, a.status,
                'Status changed to ' || replace(a.status, '_', ' '))) e(at, kind, summary)
           where a.id > $1 and a.xmin = pg_current_xact_id()::xid
             and a.updated_at >= $2::timestamptz - make_interval(days => $3::int)
             and (e.kind = 'booked' or a.updated_at > a.created_at)
             and e.at <= $2::timestamptz""",
        after_id,
        now,
        RECENT_ACTIVITY_DAYS,
    )
    return int(status.split()[-1])


async def _refresh_views(conn: asyncpg.Connection, timezone: str) -> None:
    """Materialized views (the dashboard's) would otherwise show the hospital before.
    Their months and days are the hospital's, like the app's own refresher's."""
    await conn.execute("select set_config('TimeZone', $1, false)", timezone)
    for row in await conn.fetch(
        "select schemaname, matviewname from pg_matviews where schemaname = 'public'"
    ):
        await conn.execute(f'refresh materialized view "{row["matviewname"]}"')
