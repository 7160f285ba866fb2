"""The hospital-wide admin pages: closures and appointment types (SPEC section 8).

Staff may look; admins change. Forms post to the server like the doctor's page does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from careslot import access
from careslot.accounts.models import User
from careslot.api.deps import get_ctx
from careslot.api.schemas import MAX_ID
from careslot.booking import service as booking
from careslot.errors import CareslotError, NotFound, ScheduleConflict
from careslot.scheduling import admin, types, unavailability
from careslot.scheduling.changes import TypeFields
from careslot.scheduling.schemas import AppointmentType
from careslot.web.admin import EDITORS, back
from careslot.web.forms import checkbox, local_instant, number, read_form
from careslot.web.render import SENSITIVE, page, signed_in

router = APIRouter(include_in_schema=False)
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def _closures_page(
    request: Request,
    user: User,
    *,
    saved: str | None = None,
    status: int = 200,
    problem: str | None = None,
    conflicts: list[int] | None = None,
    proposed: dict[str, str] | None = None,
) -> Response:
    ctx = get_ctx(request)
    found = await unavailability.list_closures(ctx)
    affected = [await booking.get(ctx, actor=user, appointment_id=i) for i in conflicts or []]
    return page(
        request,
        "admin_closures.html",
        user=user,
        title="Closures",
        closures=found.items,
        is_admin=access.is_admin(user),
        saved=saved,
        problem=problem,
        conflicts=affected,
        proposed=proposed or {},
        status=status,
        cache_control=SENSITIVE,
    )


@router.get("/admin/closures")
async def closures_page(request: Request, saved: str | None = None) -> Response:
    user = await signed_in(request, *EDITORS)
    return await _closures_page(request, user, saved=saved)


@router.post("/admin/closures")
async def add_closure(request: Request) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    ctx = get_ctx(request)
    try:
        await unavailability.add_closure(
            ctx,
            actor=user,
            start=local_instant(fields.get("start", ""), ctx.zone, "start"),
            end=local_instant(fields.get("end", ""), ctx.zone, "end"),
            reason=fields.get("reason", "").strip()[:500],
            force=fields.get("force") == "true",
        )
    except ScheduleConflict as exc:
        return await _closures_page(
            request,
            user,
            status=409,
            problem="Patients are booked in that period. Nothing was added yet: see below.",
            conflicts=list(exc.extra["conflicts"]),
            proposed=fields,
        )
    except CareslotError as exc:
        return await _closures_page(
            request, user, status=exc.status, problem=exc.detail, proposed=fields
        )
    return back("/admin/closures", saved="closure")


@router.post("/admin/closures/{closure_id}/delete")
async def remove_closure(request: Request, closure_id: PathId) -> Response:
    user = await signed_in(request, *EDITORS)
    await read_form(request)
    try:
        await unavailability.remove_closure(get_ctx(request), actor=user, closure_id=closure_id)
    except NotFound:
        pass  # already gone
    except CareslotError as exc:
        return await _closures_page(request, user, status=exc.status, problem=exc.detail)
    return back("/admin/closures", saved="closure-removed")


async def _types_page(
    request: Request,
    user: User,
    *,
    saved: str | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Response:
    ctx = get_ctx(request)
    departments = await admin.list_departments(ctx, actor=user)
    found = (await types.list_types(ctx, actor=user, department_id=None)).items
    by_department: dict[int, list[AppointmentType]] = {d.id: [] for d in departments}
    for kind in found:
        by_department.setdefault(kind.department_id, []).append(kind)
    return page(
        request,
        "admin_types.html",
        user=user,
        title="Appointment types",
        departments=departments,
        by_department=by_department,
        is_admin=access.is_admin(user),
        saved=saved,
        problem=problem,
        status=status,
        cache_control=SENSITIVE,
    )


@router.get("/admin/types")
async def types_page(request: Request, saved: str | None = None) -> Response:
    user = await signed_in(request, *EDITORS)
    return await _types_page(request, user, saved=saved)


def _type_fields(fields: dict[str, str]) -> TypeFields:
    return {
        "name": fields.get("name", "").strip(),
        "minutes": number(fields, "minutes", "length"),
        "buffer_before_minutes": number(fields, "bufferBeforeMinutes", "buffer before"),
        "buffer_after_minutes": number(fields, "bufferAfterMinutes", "buffer after"),
        "patient_bookable": checkbox(fields, "patientBookable"),
    }


@router.post("/admin/types")
async def add_type(request: Request) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    try:
        await types.create_type(
            get_ctx(request),
            actor=user,
            department_id=number(fields, "departmentId", "department"),
            **_type_fields(fields),
        )
    except CareslotError as exc:
        return await _types_page(request, user, status=exc.status, problem=exc.detail)
    return back("/admin/types", saved="type")


@router.post("/admin/types/{type_id}")
async def change_type(request: Request, type_id: PathId) -> Response:
    user = await signed_in(request, *EDITORS)
    fields = await read_form(request)
    try:
        await types.update_type(
            get_ctx(request),
            actor=user,
            type_id=type_id,
            changes={**_type_fields(fields), "active": checkbox(fields, "active")},
        )
    except CareslotError as exc:
        return await _types_page(request, user, status=exc.status, problem=exc.detail)
    return back("/admin/types", saved="type")
