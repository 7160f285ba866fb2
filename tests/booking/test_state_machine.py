"""A state machine over the booking service: book, cancel, reschedule and move statuses at
random, and after every step check the database against a model and its invariants."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from careslot import clock
from careslot.accounts.models import User
from careslot.audit.log import AuditLog
from careslot.booking import service
from careslot.booking.rules import LIVE, MOVES, STATUSES
from careslot.config import Settings
from careslot.context import Context
from careslot.db.pool import create_pool
from careslot.errors import BookingLimit, CareslotError, Conflict, InvalidTransition, SlotTaken
from careslot.scheduling import service as scheduling

LIMIT = 3
DOCTORS = ("Dr. Amara Okafor", "Dr. Lena Fischer", "Dr. Kenji Watanabe")


@dataclass
class Booking:
    id: int
    patient: int
    doctor: int
    start: dt.datetime
    end: dt.datetime
    status: str = "scheduled"

    @property
    def occupies(self) -> bool:  # the exclusion constraints ignore cancelled rows only
        return self.status != "cancelled"


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    ctx: Context
    patients: list[User]
    staff: User
    doctor_user: User
    slots: dict[int, list[tuple[dt.datetime, dt.datetime]]]  # doctor id -> a few slots


def _run(world: World, coro: Any) -> Any:
    return world.loop.run_until_complete(coro)


async def _setup(
    database_url: str,
) -> tuple[Context, list[User], User, User, dict[int, list[tuple[dt.datetime, dt.datetime]]]]:
    cfg = Settings(database_url=database_url, redis_url=None, max_future_appointments=LIMIT)
    pool = await create_pool(cfg, database_url)
    ctx = Context(settings=cfg, pool=pool, audit=AuditLog(pool))
    async with pool.acquire() as conn:
        await conn.execute(
            "insert into users (email, password_hash, name, role) "
            "values ('third@test.careslot', 'x', 'Third Patient', 'patient')"
        )
        users = {
            r["email"]: r
            for r in await conn.fetch(
                "select u.id, u.email, u.name, u.role, d.id as doctor_id from users u "
                "left join doctors d on d.user_id = u.id"
            )
        }
        doctor_ids = [
            await conn.fetchval("select id from doctors where name = $1", n) for n in DOCTORS
        ]

    def user(email: str) -> User:
        r = users[email]
        return User(r["id"], r["email"], r["name"], r["role"], r["doctor_id"])

    patients = [
        user(e) for e in ("patient@demo.careslot", "patient2@demo.careslot", "third@test.careslot")
    ]
    # A few slots per doctor on one working day, overlapping across doctors (30/20/15 min)
    # so that patient clashes happen too.
    day = clock.today(cfg.zone, clock.SystemClock().now()) + dt.timedelta(days=2)
    while day.isoweekday() > 5:
        day += dt.timedelta(days=1)
    slots: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for doctor_id in doctor_ids:
        found = await scheduling.slots(
            ctx, doctor_id=doctor_id, department_id=None, first=day, last=day
        )
        slots[doctor_id] = [(s["start"], s["end"]) for s in found[:4]]
    return ctx, patients, user("staff@demo.careslot"), user("doctor@demo.careslot"), slots


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    ctx, patients, staff, doctor_user, slots = loop.run_until_complete(_setup(database_url))
    yield World(loop, ctx, patients, staff, doctor_user, slots)
    loop.run_until_complete(ctx.pool.close())
    loop.close()


def _overlap(a: tuple[dt.datetime, dt.datetime], b: tuple[dt.datetime, dt.datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class BookingMachine(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self.bookings: dict[int, Booking] = {}
        _run(self.world, self._reset())

    async def _reset(self) -> None:
        async with self.world.ctx.pool.acquire() as conn:
            await conn.execute(
                "truncate appointments, activity, audit_log, idempotency_keys, outbox"
            )

    # -- helpers --------------------------------------------------------------------------

    def _blocking(
        self,
        *,
        patient: int,
        doctor: int,
        span: tuple[dt.datetime, dt.datetime],
        ignore: int | None = None,
    ) -> tuple[bool, bool]:
        doctor_busy = patient_busy = False
        for b in self.bookings.values():
            if b.id == ignore or not b.occupies or not _overlap((b.start, b.end), span):
                continue
            doctor_busy |= b.doctor == doctor
            patient_busy |= b.patient == patient
        return doctor_busy, patient_busy

    def _live_future(self, patient: int) -> int:
        return sum(1 for b in self.bookings.values() if b.patient == patient and b.status in LIVE)

    def _call(self, coro: Any) -> tuple[Any, CareslotError | None]:
        try:
            return _run(self.world, coro), None
        except CareslotError as exc:
            return None, exc

    # -- rules ----------------------------------------------------------------------------

    @rule(
        patient=st.integers(0, 2),
        doctor=st.integers(0, 2),
        slot=st.integers(0, 3),
        by_staff=st.booleans(),
    )
    def book(self, patient: int, doctor: int, slot: int, by_staff: bool) -> None:
        user = self.world.patients[patient]
        doctor_id = list(self.world.slots)[doctor]
        span = self.world.slots[doctor_id][slot]
        actor = self.world.staff if by_staff else user
        result, error = self._call(
            service.book(
                self.world.ctx,
                actor=actor,
                doctor_id=doctor_id,
                start=span[0],
                reason="sm",
                client_id=user.id if by_staff else None,
            )
        )
        doctor_busy, patient_busy = self._blocking(patient=user.id, doctor=doctor_id, span=span)
        if self._live_future(user.id) >= LIMIT:
            assert isinstance(error, BookingLimit), error
        elif doctor_busy:
            assert isinstance(error, Conflict), error  # slot_taken, or patient_busy as well
            if not patient_busy:
                assert isinstance(error, SlotTaken), error
        elif patient_busy:
            assert isinstance(error, Conflict), error
            assert error.code == "patient_busy", error
        else:
            assert error is None, error
            body = orjson.loads(result.body)
            self.bookings[body["id"]] = Booking(body["id"], user.id, doctor_id, *span)

    @precondition(lambda self: self.bookings)
    @rule(data=st.data(), by_owner=st.booleans())
    def cancel(self, data: st.DataObject, by_owner: bool) -> None:
        target = data.draw(st.sampled_from(sorted(self.bookings)))
        booking = self.bookings[target]
        actor = next(p for p in self.world.patients if p.id == booking.patient)
        if not by_owner:
            actor = next(p for p in self.world.patients if p.id != booking.patient)
        _, error = self._call(
            service.update(self.world.ctx, actor=actor, appointment_id=target, status="cancelled")
        )
        if not by_owner:
            assert error is not None
            assert error.code == "not_found", error
        elif booking.status in ("scheduled", "confirmed"):
            assert error is None, error
            booking.status = "cancelled"
        else:
            assert isinstance(error, InvalidTransition), error

    @precondition(lambda self: self.bookings)
    @rule(data=st.data(), slot=st.integers(0, 3), by_staff=st.booleans())
    def reschedule(self, data: st.DataObject, slot: int, by_staff: bool) -> None:
        target = data.draw(st.sampled_from(sorted(self.bookings)))
        booking = self.bookings[target]
        span = self.world.slots[booking.doctor][slot]
        actor = (
            self.world.staff
            if by_staff
            else next(p for p in self.world.patients if p.id == booking.patient)
        )
        _, error = self._call(
            service.update(self.world.ctx, actor=actor, appointment_id=target, start=span[0])
        )
        doctor_busy, patient_busy = self._blocking(
            patient=booking.patient, doctor=booking.doctor, span=span, ignore=target
        )
        if booking.status not in ("scheduled", "confirmed"):
            assert isinstance(error, InvalidTransition), error
        elif doctor_busy or patient_busy:
            assert isinstance(error, Conflict), error
        else:
            assert error is None, error
            booking.start, booking.end = span

    @precondition(lambda self: self.bookings)
    @rule(data=st.data(), status=st.sampled_from(STATUSES), by_doctor=st.booleans())
    def move(self, data: st.DataObject, status: str, by_doctor: bool) -> None:
        target = status
        appointment_id = data.draw(st.sampled_from(sorted(self.bookings)))
        booking = self.bookings[appointment_id]
        actor = self.world.doctor_user if by_doctor else self.world.staff
        _, error = self._call(
            service.update(
                self.world.ctx, actor=actor, appointment_id=appointment_id, status=target
            )
        )
        if by_doctor and booking.doctor != actor.doctor_id:
            assert error is not None
            assert error.code == "not_found", error
        elif target in MOVES[booking.status] and target != "no_show":  # all are in future
            assert error is None, error
            booking.status = target
        else:
            assert isinstance(error, InvalidTransition), error

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def database_matches_model_and_never_double_books(self) -> None:
        rows, clashes = _run(self.world, self._database())
        assert clashes == [], clashes
        assert {r["id"]: r["status"] for r in rows} == {
            b.id: b.status for b in self.bookings.values()
        }
        assert {r["id"]: (r["starts_at"], r["ends_at"]) for r in rows} == {
            b.id: (b.start, b.end) for b in self.bookings.values()
        }
        live = [r for r in rows if r["status"] != "cancelled"]
        assert len(live) == sum(b.occupies for b in self.bookings.values())

    async def _database(self) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
        async with self.world.ctx.pool.acquire() as conn:
            rows = await conn.fetch("select id, status, starts_at, ends_at from appointments")
            clashes = await conn.fetch(
                """select a.id, b.id from appointments a join appointments b
                   on a.id < b.id and (a.doctor_id = b.doctor_id or a.client_id = b.client_id)
                   and a.starts_at < b.ends_at and b.starts_at < a.ends_at
                   where a.status <> 'cancelled' and b.status <> 'cancelled'"""
            )
        return list(rows), list(clashes)


def test_booking_state_machine(world: World) -> None:
    BookingMachine.world = world
    run_state_machine_as_test(
        BookingMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
