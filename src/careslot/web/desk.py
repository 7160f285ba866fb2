"""The front desk's board and the doctor's day and week."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from careslot import clock
from careslot.accounts import service as accounts
from careslot.accounts.models import User
from careslot.api.deps import get_ctx
from careslot.api.schemas import MAX_ID
from careslot.booking import service as booking
from careslot.booking.rules import can_move
from careslot.booking.schemas import Appointment, Status
from careslot.errors import ValidationFailed
from careslot.scheduling.schemas import DoctorSchedule
from careslot.waitlist import service as waitlist
from careslot.waitlist.schemas import EntryStatus, WaitlistEntry
from careslot.web import data
from careslot.web.render import SENSITIVE, page, signed_in

router = APIRouter(include_in_schema=False)
DESK_MOVES = (
    (Status.CHECKED_IN, "Check in"),
    (Status.COMPLETED, "Completed"),
    (Status.NO_SHOW, "No-show"),
)


def allowed_moves(actor: User, appointment: Appointment, now: dt.datetime) -> dict[str, bool]:
    """Which desk buttons can act now: the booking rules decide (and decide again when one
    is pressed)."""
    return {
        target: can_move(
            actor=actor,
            current=appointment.status,
            target=target,
            starts_at=appointment.start,
            now=now,
        )
        for target, _ in DESK_MOVES
    }


async def _day(
    request: Request,
    user: User,
    day: dt.date,
    doctor_id: int | None,
) -> list[Appointment]:
    ctx = get_ctx(request)
    zone = ctx.zone
    return await data.appointments(
        ctx,
        actor=user,
        start=clock.day_start(day, zone),
        end=clock.day_start(day + dt.timedelta(days=1), zone),
        limit=1000,
        doctor_id=doctor_id,
    )


@router.get("/desk")
async def desk_page(
    request: Request,
    q: Annotated[str | None, Query(max_length=100)] = None,
    booked: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    user = await signed_in(request, "staff", "admin")
    ctx = get_ctx(request)
    today = clock.today(ctx.zone, ctx.clock.now())
    items = await _day(request, user, today, None)
    board: dict[str, dict[str, list[Appointment]]] = defaultdict(lambda: defaultdict(list))
    for item in sorted(items, key=lambda a: (a.department_name, a.doctor_name, a.start)):
        board[item.department_name][item.doctor_name].append(item)
    found: list[User] | None = None
    problem = None
    if q:
        try:
            found = await accounts.search_patients(ctx, actor=user, query=q)
        except ValidationFailed as exc:
            problem = exc.detail
    just_booked = await booking.get(ctx, actor=user, appointment_id=booked) if booked else None
    waiting: dict[str, list[WaitlistEntry]] = defaultdict(list)
    for entry in (await waitlist.listing(ctx, actor=user)).items:
        if entry.status in (EntryStatus.WAITING, EntryStatus.OFFERED):
            who = entry.doctor_name or f"Any doctor in {entry.department_name}"
            waiting[who].append(entry)
    now = ctx.clock.now()
    return page(
        request,
        "desk.html",
        user=user,
        title="Front desk",
        today=today,
        board=board,
        just_booked=just_booked,
        problem=problem,
        moves={a.id: allowed_moves(user, a, now) for a in items},
        desk_moves=DESK_MOVES,
        q=q or "",
        found=found,
        waitlist=dict(sorted(waiting.items())),
        cache_control=SENSITIVE,
    )


@router.get("/doctor")
async def doctor_page(request: Request) -> Response:
    user = await signed_in(request, "doctor")
    ctx = get_ctx(request)
    today = clock.today(ctx.zone, ctx.clock.now())
    last = today + dt.timedelta(days=6)
    week: dict[dt.date, list[Appointment]] = {today + dt.timedelta(days=i): [] for i in range(7)}
    schedule = DoctorSchedule(doctor_id=0, working_hours=[], time_off=[], appointments=[])
    if user.doctor_id is not None:
        schedule = await data.doctor_schedule(
            ctx, actor=user, doctor_id=user.doctor_id, first=today, last=last
        )
    for item in schedule.appointments:
        week[item.start.astimezone(ctx.zone).date()].append(item)
    hours: dict[int, list[str]] = defaultdict(list)
    for window in schedule.working_hours:
        hours[window.weekday].append(f"{window.start} to {window.end}")
    return page(
        request,
        "doctor.html",
        user=user,
        title="My day and week",
        today=today,
        week=week,
        hours=hours,
        time_off=schedule.time_off,
        cache_control=SENSITIVE,
    )
