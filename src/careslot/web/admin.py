"""The hospital's admin pages: doctors, a doctor's week and time off (SPEC section 8).

Plain HTML forms posted to the server (no script needed, every field labelled), calling the
same services as the API. A write that succeeds redirects (303) back to its page; one that
is refused shows the page again with what went wrong, and time off over live appointments
lists them with a button that forces it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from starlette.responses import RedirectResponse, Response

from careslot import access
from careslot.accounts.models import User
from careslot.api.deps import get_ctx
from careslot.api.schemas import MAX_ID
from careslot.booking import service as booking
from careslot.errors import CareslotError, NotFound, ScheduleConflict, ValidationFailed
from careslot.scheduling import admin, types, unavailability
from careslot.scheduling.slots import WorkingWindow
from careslot.web.forms import checkbox, local_instant, number, read_form, wall_time
from careslot.web.render import SENSITIVE, page, signed_in

router = APIRouter(include_in_schema=False)
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EDITORS = ("staff", "admin")


def back(path: str, **query: Any) -> RedirectResponse:
    shown = {k: v for k, v in query.items() if v not in (None, "", [])}
    target = f"{path}?{urlencode(shown)}" if shown else path
    return RedirectResponse(target, 303, headers={"Cache-Control": "no-store"})


@router.get("/admin")
async def admin_home(request: Request, saved: str | None = None) -> Response:
    user = await signed_in(request, *EDITORS)
    return await _home(request, user, saved=saved)


async def _home(
    request: Request,
    user: User,
    *,
    saved: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    ctx = get_ctx(request)
    return page(
        request,
        "admin.html",
        user=user,
        title="Run the hospital",
        doctors=await admin.list_doctors(ctx, actor=user),
        departments=await admin.list_departments(ctx, actor=user),
        is_admin=access.is_admin(user),
        saved=saved,
        problem=problem,
        status=status,
        cache_control=SENSITIVE,
    )


@router.post("/admin/departments")
async def add_department(request: Request) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    try:
        await admin.create_department(
            get_ctx(request),
            actor=user,
            name=fields.get("name", "").strip(),
            description=fields.get("description", "").strip(),
        )
    except CareslotError as exc:
        return await _home(request, user, problem=exc.detail, status=exc.status)
    return back("/admin", saved="department")


@router.post("/admin/departments/{department_id}")
async def toggle_department(request: Request, department_id: PathId) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    try:
        await admin.update_department(
            get_ctx(request),
            actor=user,
            department_id=department_id,
            changes={"is_active": fields.get("active") == "true"},
        )
    except CareslotError as exc:
        return await _home(request, user, problem=exc.detail, status=exc.status)
    return back("/admin", saved="department")


@router.post("/admin/doctors")
async def add_doctor(request: Request) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    try:
        created = await admin.create_doctor(
            get_ctx(request),
            actor=user,
            name=fields.get("name", "").strip(),
            department_id=number(fields, "departmentId", "department"),
            specialty=fields.get("specialty", "").strip(),
            slot_minutes=number(fields, "slotMinutes", "visit length"),
        )
    except CareslotError as exc:
        return await _home(request, user, problem=exc.detail, status=exc.status)
    return back(f"/admin/doctors/{created.id}", saved="doctor")


async def _doctor_page(
    request: Request,
    user: User,
    doctor_id: int,
    *,
    status: int = 200,
    problem: str | None = None,
    conflicts: list[int] | None = None,
    proposed: dict[str, str] | None = None,
    week: list[tuple[int, dt.time, dt.time]] | None = None,
    saved: str | None = None,
    outside: list[int] | None = None,
) -> Response:
    ctx = get_ctx(request)
    doctor = await admin.get_doctor(ctx, actor=user, doctor_id=doctor_id)
    hours = await admin.working_hours(ctx, actor=user, doctor_id=doctor_id)
    current = [
        (w.weekday, dt.time.fromisoformat(w.start), dt.time.fromisoformat(w.end))
        for w in hours.items
    ]
    rows: dict[int, list[tuple[str, str]]] = {d: [] for d in range(1, 8)}
    for weekday, start, end in week if week is not None else current:
        rows[weekday].append((start.strftime("%H:%M"), end.strftime("%H:%M")))
    for windows in rows.values():
        while len(windows) < 2:
            windows.append(("", ""))
    off = await unavailability.list_time_off(ctx, actor=user, doctor_id=doctor_id)
    kinds = await types.list_types(ctx, actor=user, department_id=doctor.department_id)
    affected = [
        await booking.get(ctx, actor=user, appointment_id=i) for i in (conflicts or outside or [])
    ]
    return page(
        request,
        "admin_doctor.html",
        user=user,
        title=doctor.name,
        doctor=doctor,
        weekdays=WEEKDAYS,
        rows=rows,
        time_off=off.items,
        types=kinds.items,
        departments=await admin.list_departments(ctx, actor=user),
        is_admin=access.is_admin(user),
        problem=problem,
        conflicts=affected if conflicts else [],
        outside=affected if outside else [],
        proposed=proposed or {},
        saved=saved,
        status=status,
        cache_control=SENSITIVE,
    )


@router.get("/admin/doctors/{doctor_id}")
async def doctor_page(
    request: Request, doctor_id: PathId, saved: str | None = None, outside: str | None = None
) -> Response:
    user = await signed_in(request, *EDITORS)
    ids = [int(i) for i in (outside or "").split(",") if i.isdigit()][:50]
    return await _doctor_page(request, user, doctor_id, saved=saved, outside=ids)


@router.post("/admin/doctors/{doctor_id}")
async def change_doctor(request: Request, doctor_id: PathId) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    try:
        await admin.update_doctor(
            get_ctx(request),
            actor=user,
            doctor_id=doctor_id,
            changes={
                "name": fields.get("name", "").strip(),
                "specialty": fields.get("specialty", "").strip(),
                "slot_minutes": number(fields, "slotMinutes", "visit length"),
                "department_id": number(fields, "departmentId", "department"),
                "is_active": checkbox(fields, "active"),
            },
        )
    except CareslotError as exc:
        return await _doctor_page(request, user, doctor_id, status=exc.status, problem=exc.detail)
    return back(f"/admin/doctors/{doctor_id}", saved="doctor")


def _week(fields: dict[str, str]) -> list[tuple[int, dt.time, dt.time]]:
    """The week as typed: rows d{weekday}w{n}start / ...end; a row left empty is no window."""
    out = []
    for weekday in range(1, 8):
        for n in range(8):
            start = fields.get(f"d{weekday}w{n}start", "").strip()
            end = fields.get(f"d{weekday}w{n}end", "").strip()
            if not start and not end:
                continue
            if not start or not end:
                raise ValidationFailed(f"{WEEKDAYS[weekday - 1]}: give both a start and an end")
            out.append((weekday, wall_time(start), wall_time(end)))
    return out


@router.post("/admin/doctors/{doctor_id}/hours")
async def save_hours(request: Request, doctor_id: PathId) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    week: list[tuple[int, dt.time, dt.time]] | None = None
    try:
        week = _week(fields)
        saved = await admin.replace_working_hours(
            get_ctx(request),
            actor=user,
            doctor_id=doctor_id,
            windows=[WorkingWindow(*w) for w in week],
        )
    except CareslotError as exc:
        return await _doctor_page(
            request, user, doctor_id, status=exc.status, problem=exc.detail, week=week
        )
    outside = ",".join(str(i) for i in saved.conflicts[:50])
    return back(f"/admin/doctors/{doctor_id}", saved="hours", outside=outside)


@router.post("/admin/doctors/{doctor_id}/time-off")
async def add_time_off(request: Request, doctor_id: PathId) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    ctx = get_ctx(request)
    try:
        await unavailability.add_time_off(
            ctx,
            actor=user,
            doctor_id=doctor_id,
            start=local_instant(fields.get("start", ""), ctx.zone, "start"),
            end=local_instant(fields.get("end", ""), ctx.zone, "end"),
            reason=fields.get("reason", "").strip()[:500],
            force=fields.get("force") == "true",
        )
    except ScheduleConflict as exc:
        return await _doctor_page(
            request,
            user,
            doctor_id,
            status=409,
            problem="Patients are booked in that period. Nothing was added yet: see below.",
            conflicts=list(exc.extra["conflicts"]),
            proposed=fields,
        )
    except CareslotError as exc:
        return await _doctor_page(
            request, user, doctor_id, status=exc.status, problem=exc.detail, proposed=fields
        )
    return back(f"/admin/doctors/{doctor_id}", saved="time-off")


@router.post("/admin/doctors/{doctor_id}/time-off/{time_off_id}/delete")
async def remove_time_off(request: Request, doctor_id: PathId, time_off_id: PathId) -> Response:
    user = await signed_in(request, *EDITORS)
    await read_form(request)
    try:
        await unavailability.remove_time_off(
            get_ctx(request), actor=user, doctor_id=doctor_id, time_off_id=time_off_id
        )
    except NotFound:
        pass  # already gone: the page shows what there is
    return back(f"/admin/doctors/{doctor_id}", saved="time-off-removed")
