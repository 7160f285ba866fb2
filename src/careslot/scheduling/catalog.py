"""What a booking needs to know before it asks the database: each doctor's weekly hours and
slot length, and the appointment types, kept in process memory.

This copy never decides a booking. It remembers the catalogue version (migration 0009) it
was read at; `book_appointment` compares that version with the current one under the
schedule lock, and refuses a booking made against an older copy. The booking service then
forgets this copy and tries again. Any change of hours, doctors, departments or types bumps
the version, so the copy is at most one refused attempt behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from careslot.db import Conn
from careslot.scheduling import admin_repository as admin_repo
from careslot.scheduling import repository as repo
from careslot.scheduling.schemas import AppointmentType
from careslot.scheduling.slots import DoctorHours


@dataclass
class BookingCatalog:
    version: int | None = None
    # Only what exists is kept: an unknown id is asked again, so made-up ids cannot grow it.
    doctors: dict[int, DoctorHours] = field(default_factory=dict)
    types: dict[int, AppointmentType] = field(default_factory=dict)

    def forget(self) -> None:
        self.version = None
        self.doctors.clear()
        self.types.clear()

    async def _version(self, conn: Conn) -> int:
        # Read before the rows it vouches for: a change committed in between then pairs
        # newer rows with an older version (refused, reloaded), never the other way round.
        if self.version is None:
            self.version = int(await conn.fetchval("select version from catalog_version"))
        return self.version

    async def is_stale(self, conn: Conn) -> bool:
        """Whether hours, doctors, departments or types changed since this copy was read
        (asked before a refusal that rests on the copy is given)."""
        current = int(await conn.fetchval("select version from catalog_version"))
        return self.version is not None and self.version != current

    async def doctor(self, conn: Conn, doctor_id: int) -> tuple[int, DoctorHours | None]:
        """The catalogue version and the doctor's schedule (None: no such active doctor)."""
        version = await self._version(conn)
        found = self.doctors.get(doctor_id)
        if found is None:
            found = (await repo.schedules(conn, [doctor_id])).get(doctor_id)
            if found is not None:
                self.doctors[doctor_id] = found
        return version, found

    async def appointment_type(self, conn: Conn, type_id: int) -> AppointmentType | None:
        found = self.types.get(type_id)
        if found is None:
            found = await admin_repo.appointment_type(conn, type_id)
            if found is not None:
                self.types[type_id] = found
        return found
