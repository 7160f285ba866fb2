"""The small, deterministic demo hospital that `careslot serve --demo` loads once."""

from __future__ import annotations

from datetime import time, timedelta

import asyncpg

from careslot import clock
from careslot.accounts.passwords import Passwords
from careslot.config import Settings
from careslot.scheduling.slots import WorkingWindow, day_slots

DEPARTMENTS = [
    ("Cardiology", "#b91c1c", "Heart and circulation"),
    ("Dermatology", "#a16207", "Skin, hair and nails"),
    ("General Practice", "#15803d", "Family medicine and check-ups"),
    ("Paediatrics", "#1d4ed8", "Care for children and teenagers"),
]
DOCTORS = [  # name, department index, specialty, slot minutes
    ("Dr. Amara Okafor", 0, "Cardiologist", 30),
    ("Dr. Lena Fischer", 0, "Electrophysiologist", 20),
    ("Dr. Kenji Watanabe", 1, "Dermatologist", 15),
    ("Dr. Sofia Rossi", 2, "General practitioner", 15),
    ("Dr. Daniel Mensah", 2, "General practitioner", 20),
    ("Dr. Priya Nair", 3, "Paediatrician", 30),
]
PASSWORD = "careslot-demo"  # noqa: S105 (the published demo login)
LOGINS = [
    ("patient@demo.careslot", "Pat Patient", "patient"),
    ("patient2@demo.careslot", "Robin Reyes", "patient"),
    ("staff@demo.careslot", "Sam Front-Desk", "staff"),
    ("admin@demo.careslot", "Alex Admin", "admin"),
    ("doctor@demo.careslot", "Dr. Amara Okafor", "doctor"),
]


async def seed_demo(conn: asyncpg.Connection, settings: Settings) -> bool:
    """Load the demo hospital unless it is there already; True if it was loaded now."""
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtext('careslot.demo'))")
        if await conn.fetchval("select 1 from settings where key = 'demo_seeded'"):
            return False
        password_hash = Passwords.from_settings(settings).hash(PASSWORD)
        users: dict[str, int] = {}
        for email, name, role in LOGINS:
            users[email] = await conn.fetchval(
                "insert into users (email, password_hash, name, role) values ($1, $2, $3, $4) "
                "returning id",
                email,
                password_hash,
                name,
                role,
            )
        dept_ids = [
            await conn.fetchval(
                "insert into departments (name, color, description) values ($1, $2, $3) "
                "returning id",
                *dept,
            )
            for dept in DEPARTMENTS
        ]
        doctor_ids = []
        for i, (name, dept, specialty, minutes) in enumerate(DOCTORS):
            user_id = users["doctor@demo.careslot"] if i == 0 else None
            doctor_id = await conn.fetchval(
                "insert into doctors (user_id, department_id, name, specialty, slot_minutes) "
                "values ($1, $2, $3, $4, $5) returning id",
                user_id,
                dept_ids[dept],
                name,
                specialty,
                minutes,
            )
            doctor_ids.append(doctor_id)
            days = range(1, 6) if i % 2 == 0 else range(1, 7)
            for weekday in days:
                for start, end in ((time(9), time(12, 30)), (time(13, 30), time(17))):
                    await conn.execute(
                        "insert into working_hours (doctor_id, weekday, start_time, end_time) "
                        "values ($1, $2, $3, $4)",
                        doctor_id,
                        weekday,
                        start,
                        end,
                    )
        await _demo_appointments(conn, settings, users, doctor_ids, dept_ids)
        await conn.execute(
            "insert into settings (key, value) values ('demo_seeded', 'true'::jsonb), "
            "('hospital_name', '\"careslot General Hospital\"'::jsonb)"
        )
    return True


async def _demo_appointments(
    conn: asyncpg.Connection,
    settings: Settings,
    users: dict[str, int],
    doctor_ids: list[int],
    dept_ids: list[int],
) -> None:
    """A few past and future appointments for the demo patients, on real slots."""
    zone = settings.zone
    today = clock.today(zone, clock.SystemClock().now())
    windows = [WorkingWindow(wd, time(9), time(12, 30)) for wd in range(1, 7)]
    plan = [  # patient, doctor index, days from today, slot index, status
        ("patient@demo.careslot", 0, -40, 1, "completed"),
        ("patient@demo.careslot", 3, -12, 2, "no_show"),
        ("patient@demo.careslot", 2, -5, 3, "completed"),
        ("patient@demo.careslot", 4, -2, 0, "cancelled"),
        ("patient@demo.careslot", 0, 3, 2, "confirmed"),
        ("patient@demo.careslot", 5, 9, 1, "scheduled"),
        ("patient2@demo.careslot", 0, 3, 3, "scheduled"),
        ("patient2@demo.careslot", 3, -20, 4, "completed"),
    ]
    for email, doctor_index, offset, slot_index, status in plan:
        day = today + timedelta(days=offset)
        while day.isoweekday() > 5:
            day += timedelta(days=1)
        minutes = DOCTORS[doctor_index][3]
        slot = day_slots(day, windows, minutes, zone)[slot_index]
        appointment_id = await conn.fetchval(
            """insert into appointments (client_id, doctor_id, department_id, starts_at, ends_at,
                                         status, reason, created_by)
               values ($1, $2, $3, $4, $5, $6, 'Demo visit', $1) returning id""",
            users[email],
            doctor_ids[doctor_index],
            dept_ids[DOCTORS[doctor_index][1]],
            slot.start,
            slot.end,
            status,
        )
        await conn.execute(
            "insert into activity (actor_id, client_id, appointment_id, kind, summary) "
            "values ($1, $1, $2, 'booked', $3)",
            users[email],
            appointment_id,
            f"Booked with {DOCTORS[doctor_index][0]}",
        )
