"""The patient's pages and the public ones: each reads through the same services as the
API, renders the first paint with its data, and leaves interactions to /static/app.js."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from careslot import clock
from careslot.accounts import service as accounts
from careslot.api.deps import get_ctx, optional_user
from careslot.api.schemas import MAX_ID
from careslot.booking import service as booking
from careslot.booking.schemas import Appointment
from careslot.errors import NotFound, ValidationFailed
from careslot.scheduling import types
from careslot.scheduling.schemas import Doctor, FreeSlot
from careslot.waitlist import service as waitlist
from careslot.waitlist.schemas import EntryStatus
from careslot.web import data
from careslot.web.render import PUBLIC_PAGE, SENSITIVE, home_of, page, signed_in

router = APIRouter(include_in_schema=False)
OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
BOOKING_DAYS = 28  # the day picker: four weeks from today
OPEN = (EntryStatus.WAITING, EntryStatus.OFFERED)  # the entries /appointments lists


def safe_next(target: str | None) -> str:
    """Only our own paths: never another site (`//evil`, `https://…`)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return ""


@router.get("/")
async def landing(request: Request) -> Response:
    user = await optional_user(request)
    if user is not None:
        return RedirectResponse(home_of(user), 303, headers={"Cache-Control": "no-store"})
    return page(request, "landing.html", user=None, title="Welcome", cache_control=PUBLIC_PAGE)


@router.get("/login")
async def login(request: Request, next: str | None = None) -> Response:
    return page(
        request,
        "login.html",
        user=None,
        title="Sign in",
        next=safe_next(next),
        cache_control=PUBLIC_PAGE,
    )


@router.get("/register")
async def register(request: Request, next: str | None = None) -> Response:
    return page(
        request,
        "register.html",
        user=None,
        title="Create an account",
        next=safe_next(next),
        cache_control=PUBLIC_PAGE,
    )


@router.get("/offline")
async def offline(request: Request) -> Response:
    return page(
        request, "offline.html", user=None, title="You are offline", cache_control=PUBLIC_PAGE
    )


@router.get("/dashboard")
async def dashboard_page(request: Request, booked: OptId = None) -> Response:
    user = await signed_in(request, "patient")
    ctx = get_ctx(request)
    stats = await data.dashboard_stats(ctx, actor=user)
    activity = await data.activity(ctx, actor=user, limit=10)  # the prefetch's key too
    offers = [e for e in (await waitlist.listing(ctx, actor=user)).items if e.offer]
    just_booked = None
    if booked is not None:
        try:
            just_booked = await booking.get(ctx, actor=user, appointment_id=booked)
        except NotFound:
            just_booked = None
    return page(
        request,
        "dashboard.html",
        user=user,
        title="Your dashboard",
        stats=stats,
        activity=activity,
        just_booked=just_booked,
        offers=offers,
    )


async def _day_picker(
    request: Request,
    doctor_id: int,
    today: dt.date,
    type_id: int | None = None,
) -> dict[dt.date, list[FreeSlot]]:
    ctx = get_ctx(request)
    last = today + dt.timedelta(days=BOOKING_DAYS - 1)
    found = await data.slots(ctx, doctor_id=doctor_id, first=today, last=last, type_id=type_id)
    days: dict[dt.date, list[FreeSlot]] = defaultdict(list)
    for slot in found:
        days[slot.start.astimezone(ctx.zone).date()].append(slot)
    return {
        today + dt.timedelta(days=i): days.get(today + dt.timedelta(days=i), [])
        for i in range(BOOKING_DAYS)
    }


@router.get("/book")
async def book_page(
    request: Request,
    departmentId: OptId = None,
    doctorId: OptId = None,
    date: Annotated[dt.date | None, Query()] = None,
    start: Annotated[dt.datetime | None, Query()] = None,
    clientId: OptId = None,
    reschedule: OptId = None,
    typeId: OptId = None,
) -> Response:
    user = await signed_in(request, "patient", "staff", "admin")
    ctx = get_ctx(request)
    patient = user if user.is_patient else None
    if user.is_staff and clientId is not None:
        patient = await accounts.get_patient(ctx, actor=user, patient_id=clientId)
    moving = None
    if reschedule is not None:
        moving = await booking.get(ctx, actor=user, appointment_id=reschedule)
        doctorId, departmentId = moving.doctor_id, moving.department_id
        typeId = moving.type_id
        if patient is None:
            patient = await accounts.get_patient(ctx, actor=user, patient_id=moving.client_id)
    departments = await data.departments(ctx)
    doctors = await data.doctors(ctx, department_id=departmentId) if departmentId else []
    doctor = next((d for d in doctors if d.id == doctorId), None)
    if doctorId is not None and doctor is None:
        raise NotFound("That doctor is not in this department.")
    kinds = await types.bookable(ctx, actor=user, department_id=departmentId)
    kind = next((k for k in kinds if k.id == typeId), None)
    if typeId is not None and kind is None and moving is None:
        raise NotFound("That type of visit is not offered here.")
    today = clock.today(ctx.zone, ctx.clock.now())
    days = await _day_picker(request, doctor.id, today, typeId) if doctor else {}
    full: set[dt.date] = set()
    if doctor and (patient is not None) and moving is None:
        worked = await waitlist.working_days(ctx, doctor_id=doctor.id, days=days)
        full = {day for day in worked if not days[day]}
    if date is not None and date not in days:
        date = None
    chosen = None
    if start is not None and date is not None:
        if start.tzinfo is None:
            raise ValidationFailed("The chosen time is missing its time zone.")
        chosen = next((s for s in days[date] if s.start == start), None)
    return page(
        request,
        "book.html",
        user=user,
        title="Book an appointment",
        departments=departments,
        department_id=departmentId,
        doctors=doctors,
        doctor=doctor,
        days=days,
        date=date,
        slots=days.get(date, []) if date else [],
        start=start,
        chosen=chosen,
        patient=patient,
        moving=moving,
        kinds=kinds,
        kind=kind,
        type_id=typeId,
        full=full,
        base={
            k: v
            for k, v in (("clientId", clientId), ("reschedule", reschedule), ("typeId", typeId))
            if v is not None
        },
    )


@router.get("/appointments")
async def appointments_page(request: Request, offer: OptId = None) -> Response:
    user = await signed_in(request, "patient")
    ctx = get_ctx(request)
    items = await data.appointments(ctx, actor=user, limit=200)
    waiting = await waitlist.listing(ctx, actor=user)
    now = ctx.clock.now()
    upcoming = sorted((a for a in items if a.start > now), key=lambda a: a.start)
    past = [a for a in items if a.start <= now]
    return page(
        request,
        "appointments.html",
        user=user,
        title="My appointments",
        upcoming=upcoming,
        past=past,
        entries=[e for e in waiting.items if e.status in OPEN],
        offer=offer,
        cache_control=SENSITIVE,
    )


def month_grid(year: int, month: int) -> list[list[dt.date | None]]:
    first = dt.date(year, month, 1)
    days = (dt.date(year + month // 12, month % 12 + 1, 1) - first).days
    cells: list[dt.date | None] = [None] * first.weekday()
    cells += [first + dt.timedelta(days=i) for i in range(days)]
    cells += [None] * (-len(cells) % 7)
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


@router.get("/calendar")
async def calendar_page(
    request: Request,
    month: Annotated[str | None, Query(max_length=7)] = None,
    doctorId: OptId = None,
) -> Response:
    user = await signed_in(request)
    ctx = get_ctx(request)
    today = clock.today(ctx.zone, ctx.clock.now())
    year, mon = clock.parse_month(month, today)
    doctors: list[Doctor] = []
    if user.is_staff:
        doctors = await data.doctors(ctx, department_id=None)
        if doctorId is None and doctors:
            doctorId = doctors[0].id
    result = await data.calendar(
        ctx,
        actor=user,
        year=year,
        month=mon,
        doctor_id=doctorId if not user.is_patient else None,
    )
    by_day: dict[dt.date, list[Appointment]] = defaultdict(list)
    for item in result.items:
        by_day[item.start.astimezone(ctx.zone).date()].append(item)
    prev_month = dt.date(year, mon, 1) - dt.timedelta(days=1)
    next_month = dt.date(year, mon, 28) + dt.timedelta(days=5)
    return page(
        request,
        "calendar.html",
        user=user,
        title="Calendar",
        year=year,
        month=mon,
        label=dt.date(year, mon, 1).strftime("%B %Y"),
        grid=month_grid(year, mon),
        by_day=by_day,
        doctors=doctors,
        doctor_id=result.doctor_id,
        today=today,
        prev=prev_month.strftime("%Y-%m"),
        next=next_month.strftime("%Y-%m"),
        cache_control=SENSITIVE,
    )
