"""A state machine over the booking service: book, cancel, reschedule and move statuses at
random (one at a time, and two at once), and after every step check the database against a
model and its invariants. The model's rules are stated here, from SPEC section 2 and the
README, not imported from the code under test."""

from __future__ import annotations

import asyncio
import copy
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
    rule,
    run_state_machine_as_test,
)

from careslot import clock
from careslot.accounts.models import User
from careslot.audit.log import AuditLog
from careslot.booking import service
from careslot.config import Settings
from careslot.context import Context
from careslot.db.pool import create_pool
from careslot.errors import CareslotError
from careslot.scheduling import service as scheduling

LIMIT = 3
DOCTORS = ("Dr. Amara Okafor", "Dr. Lena Fischer", "Dr. Kenji Watanabe")

# The allowed status moves, as the README states them: scheduled -> confirmed | cancelled |
# checked_in | no_show, confirmed -> cancelled | checked_in | no_show, checked_in ->
# completed | no_show; no_show only after the start; patients may only cancel their own future
# appointments; anything else is 409 invalid_transition.
STATUSES = ("scheduled", "confirmed", "checked_in", "completed", "cancelled", "no_show")
ALLOWED = {
    ("scheduled", "confirmed"),
    ("scheduled", "cancelled"),
    ("scheduled", "checked_in"),
    ("scheduled", "no_show"),
    ("confirmed", "cancelled"),
    ("confirmed", "checked_in"),
    ("confirmed", "no_show"),
    ("checked_in", "completed"),
    ("checked_in", "no_show"),
}
# What counts against the limit of upcoming appointments (and may be rescheduled: the first two).
UPCOMING = ("scheduled", "confirmed", "checked_in")
RESCHEDULABLE = ("scheduled", "confirmed")


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
    doctor_users: list[User]  # one login per doctor, in DOCTORS order
    slots: dict[int, list[tuple[dt.datetime, dt.datetime]]]  # doctor id -> a few slots


def _run(world: World, coro: Any) -> Any:
    return world.loop.run_until_complete(coro)


async def _setup(
    database_url: str,
) -> tuple[Context, list[User], User, list[User], dict[int, list[tuple[dt.datetime, dt.datetime]]]]:
    cfg = Settings(database_url=database_url, redis_url=None, max_future_appointments=LIMIT)
    pool = await create_pool(cfg, database_url)
    ctx = Context(settings=cfg, pool=pool, audit=AuditLog(pool))
    async with pool.acquire() as conn:
        await conn.execute(
            "insert into users (email, password_hash, name, role) "
            "values ('third@test.careslot', 'x', 'Third Patient', 'patient')"
        )
        for i, name in enumerate(DOCTORS[1:], start=2):
            user_id = await conn.fetchval(
                "insert into users (email, password_hash, name, role) "
                "values ($1, 'x', $2, 'doctor') returning id",
                f"doctor{i}@test.careslot",
                name,
            )
            await conn.execute("update doctors set user_id = $1 where name = $2", user_id, name)
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
        slots[doctor_id] = [(s.start, s.end) for s in found.slots[:4]]
    doctors = [
        user(e) for e in ("doctor@demo.careslot", *(f"doctor{i}@test.careslot" for i in (2, 3)))
    ]
    return ctx, patients, user("staff@demo.careslot"), doctors, slots


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    ctx, patients, staff, doctors, slots = loop.run_until_complete(_setup(database_url))
    yield World(loop, ctx, patients, staff, doctors, slots)
    loop.run_until_complete(ctx.pool.close())
    loop.close()


def _overlap(a: tuple[dt.datetime, dt.datetime], b: tuple[dt.datetime, dt.datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


Span = tuple[dt.datetime, dt.datetime]
Model = dict[int, Booking]


# -- the model: what each operation must answer in a given state (a set of problem codes, or
# "ok"), and how a successful answer changes the state ----------------------------------------


def _busy(
    model: Model, *, patient: int, doctor: int, span: Span, ignore: int | None = None
) -> tuple[bool, bool]:
    doctor_busy = patient_busy = False
    for b in model.values():
        if b.id == ignore or not b.occupies or not _overlap((b.start, b.end), span):
            continue
        doctor_busy |= b.doctor == doctor
        patient_busy |= b.patient == patient
    return doctor_busy, patient_busy


def _clash(doctor_busy: bool, patient_busy: bool) -> set[str]:
    """The database's exclusion constraints: either one may fire first when both apply."""
    codes = {"slot_taken"} if doctor_busy else set()
    if patient_busy:
        codes.add("patient_busy")
    return codes or {"ok"}


@dataclass(frozen=True)
class Op:
    kind: str  # book, cancel, reschedule, move
    actor: User
    patient: int = 0  # book: whose appointment
    doctor: int = 0  # book: which doctor
    span: Span | None = None  # book, reschedule: which slot
    target: int = 0  # cancel, reschedule, move: which appointment
    status: str = ""  # move: to which status

    def expected(self, model: Model) -> set[str]:
        if self.kind == "book":
            assert self.span is not None
            upcoming = sum(
                1 for b in model.values() if b.patient == self.patient and b.status in UPCOMING
            )
            if upcoming >= LIMIT:
                return {"booking_limit"}
            return _clash(*_busy(model, patient=self.patient, doctor=self.doctor, span=self.span))
        booking = model[self.target]
        if self.actor.role == "patient" and self.actor.id != booking.patient:
            return {"not_found"}
        if self.actor.role == "doctor" and self.actor.doctor_id != booking.doctor:
            return {"not_found"}
        if self.kind == "reschedule":
            assert self.span is not None
            if booking.status not in RESCHEDULABLE:
                return {"invalid_transition"}
            return _clash(
                *_busy(
                    model,
                    patient=booking.patient,
                    doctor=booking.doctor,
                    span=self.span,
                    ignore=booking.id,
                )
            )
        status = "cancelled" if self.kind == "cancel" else self.status
        if self.actor.role == "patient" and status != "cancelled":
            return {"invalid_transition"}
        if (booking.status, status) not in ALLOWED or status == "no_show":  # all are future
            return {"invalid_transition"}
        return {"ok"}

    def apply(self, model: Model, answer: Any) -> None:
        """Change the model as a successful answer says."""
        if self.kind == "book":
            assert self.span is not None
            body = orjson.loads(answer.body)
            model[body["id"]] = Booking(body["id"], self.patient, self.doctor, *self.span)
        elif self.kind == "reschedule":
            assert self.span is not None
            model[self.target].start, model[self.target].end = self.span
        else:
            model[self.target].status = "cancelled" if self.kind == "cancel" else self.status

    def call(self, ctx: Context) -> Any:
        if self.kind == "book":
            assert self.span is not None
            by_staff = self.actor.role == "staff"
            return service.book(
                ctx,
                actor=self.actor,
                doctor_id=self.doctor,
                start=self.span[0],
                reason="sm",
                client_id=self.patient if by_staff else None,
            )
        if self.kind == "reschedule":
            assert self.span is not None
            return service.update(
                ctx, actor=self.actor, appointment_id=self.target, start=self.span[0]
            )
        status = "cancelled" if self.kind == "cancel" else self.status
        return service.update(ctx, actor=self.actor, appointment_id=self.target, status=status)


def _code(outcome: Any) -> str:
    if isinstance(outcome, CareslotError):
        return outcome.code
    if isinstance(outcome, BaseException):
        raise outcome
    return "ok"


class BookingMachine(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self.bookings: Model = {}
        _run(self.world, self._reset())

    async def _reset(self) -> None:
        async with self.world.ctx.pool.acquire() as conn:
            await conn.execute(
                "truncate appointments, activity, audit_log, idempotency_keys, outbox "
                "restart identity"
            )

    # -- drawing operations ----------------------------------------------------------------
    # Every draw is the same whatever the state (the state depends on which of two concurrent
    # steps won, which hypothesis cannot replay): a fixed plan, read against the state.

    PLAN = st.fixed_dictionaries(
        {
            "book": st.booleans(),
            "patient": st.integers(0, 2),
            "doctor": st.integers(0, 2),
            "slot": st.integers(0, 3),
            "by_staff": st.booleans(),
            "target": st.integers(0, 10_000),
            "kind": st.sampled_from(["cancel", "reschedule", "move"]),
            "who": st.integers(0, 4),
            "status": st.sampled_from(STATUSES),
        }
    )

    def _op(self, plan: dict[str, Any]) -> Op:
        patient = self.world.patients[plan["patient"]]
        if plan["book"] or not self.bookings:
            doctor_id = list(self.world.slots)[plan["doctor"]]
            span = self.world.slots[doctor_id][plan["slot"]]
            actor = self.world.staff if plan["by_staff"] else patient
            return Op("book", actor, patient=patient.id, doctor=doctor_id, span=span)
        ids = sorted(self.bookings)
        target = ids[plan["target"] % len(ids)]
        booking = self.bookings[target]
        owner = next(p for p in self.world.patients if p.id == booking.patient)
        if plan["kind"] == "cancel":  # the owner, or another patient (who must not see it)
            return Op("cancel", patient, target=target)
        if plan["kind"] == "reschedule":
            actor = self.world.staff if plan["by_staff"] else owner
            span = self.world.slots[booking.doctor][plan["slot"]]
            return Op("reschedule", actor, target=target, span=span)
        # Staff, any doctor (only the appointment's own may see it), or its patient.
        actor = [self.world.staff, owner, *self.world.doctor_users][plan["who"]]
        return Op("move", actor, target=target, status=plan["status"])

    # -- rules ----------------------------------------------------------------------------

    @rule(plan=PLAN)
    def one_step(self, plan: dict[str, Any]) -> None:
        op = self._op(plan)
        allowed = op.expected(self.bookings)
        try:
            answer: Any = _run(self.world, op.call(self.world.ctx))
        except CareslotError as exc:
            answer = exc

        assert _code(answer) in allowed, (op, _code(answer), allowed)
        if _code(answer) == "ok":
            op.apply(self.bookings, answer)

    @rule(first=PLAN, second=PLAN)
    def two_at_once(self, first: dict[str, Any], second: dict[str, Any]) -> None:
        """Two operations run concurrently: the answers must be those of one of the two
        serial orders (the database serialises them), and the model follows that order."""
        ops = (self._op(first), self._op(second))

        async def both() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(op.call(self.world.ctx) for op in ops), return_exceptions=True
                )
            )

        answers = _run(self.world, both())
        codes = [_code(a) for a in answers]
        explained: list[Model] = []
        for order in ((0, 1), (1, 0)):
            model = copy.deepcopy(self.bookings)
            for i in order:
                if codes[i] not in ops[i].expected(model):
                    break
                if codes[i] == "ok":
                    ops[i].apply(model, answers[i])
            else:
                explained.append(model)
        assert explained, f"no serial order explains {codes} for {ops}"
        # Both orders may explain the answers yet end differently (two reschedules of one
        # appointment): the database says which order it took.
        rows, _ = _run(self.world, self._database())
        actual = {r["id"]: (r["status"], r["starts_at"], r["ends_at"]) for r in rows}
        for model in explained:
            if {b.id: (b.status, b.start, b.end) for b in model.values()} == actual:
                self.bookings = model
                return
        raise AssertionError(f"the database ended in neither serial order of {ops}")

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
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
