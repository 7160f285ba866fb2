"""Running the hospital over HTTP (SPEC section 8): departments, doctors, working hours,
time off, closures and appointment types. Each route parses, calls one service, answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from starlette.responses import Response

from careslot.api import responses
from careslot.api.admin_schemas import (
    DEPARTMENT_CHANGES,
    DOCTOR_CHANGES,
    TYPE_CHANGES,
    ClosureIn,
    DepartmentIn,
    DepartmentPatch,
    DoctorIn,
    DoctorPatch,
    PeriodIn,
    TypeIn,
    TypePatch,
    WorkingHoursIn,
    changes,
)
from careslot.api.deps import Ctx, CurrentUser, optional_user
from careslot.api.routing import api_router
from careslot.api.schemas import MAX_ID
from careslot.scheduling import admin, types, unavailability
from careslot.scheduling.schemas import (
    AdminDepartment,
    AdminDoctor,
    AppointmentType,
    AppointmentTypeList,
    ClosureAdded,
    ClosureList,
    TimeOffAdded,
    TimeOffList,
    WorkingHours,
    WorkingHoursReplaced,
)

router = api_router("admin")
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
Force = Annotated[bool, Query()]
NO_STORE = responses.SENSITIVE


@router.post("/departments", status_code=201, response_model=AdminDepartment)
async def create_department(body: DepartmentIn, ctx: Ctx, user: CurrentUser) -> Response:
    created = await admin.create_department(
        ctx, actor=user, name=body.name, color=body.color, description=body.description
    )
    return responses.json(created, 201, NO_STORE)


@router.patch("/departments/{department_id}", response_model=AdminDepartment)
async def change_department(
    body: DepartmentPatch, ctx: Ctx, user: CurrentUser, department_id: PathId
) -> Response:
    updated = await admin.update_department(
        ctx, actor=user, department_id=department_id, changes=changes(body, DEPARTMENT_CHANGES)
    )
    return responses.json(updated, headers=NO_STORE)


@router.post("/doctors", status_code=201, response_model=AdminDoctor)
async def create_doctor(body: DoctorIn, ctx: Ctx, user: CurrentUser) -> Response:
    created = await admin.create_doctor(
        ctx,
        actor=user,
        name=body.name,
        department_id=body.department_id,
        specialty=body.specialty,
        slot_minutes=body.slot_minutes,
        user_id=body.user_id,
    )
    return responses.json(created, 201, NO_STORE)


@router.patch("/doctors/{doctor_id}", response_model=AdminDoctor)
async def change_doctor(
    body: DoctorPatch, ctx: Ctx, user: CurrentUser, doctor_id: PathId
) -> Response:
    updated = await admin.update_doctor(
        ctx,
        actor=user,
        doctor_id=doctor_id,
        changes=changes(body, DOCTOR_CHANGES, nullable=frozenset({"user_id"})),
    )
    return responses.json(updated, headers=NO_STORE)


@router.get("/doctors/{doctor_id}/working-hours", response_model=WorkingHours)
async def working_hours(ctx: Ctx, user: CurrentUser, doctor_id: PathId) -> Response:
    found = await admin.working_hours(ctx, actor=user, doctor_id=doctor_id)
    return responses.json(found, headers=NO_STORE)


@router.put("/doctors/{doctor_id}/working-hours", response_model=WorkingHoursReplaced)
async def replace_working_hours(
    body: WorkingHoursIn, ctx: Ctx, user: CurrentUser, doctor_id: PathId
) -> Response:
    replaced = await admin.replace_working_hours(
        ctx, actor=user, doctor_id=doctor_id, windows=[w.window() for w in body.items]
    )
    return responses.json(replaced, headers=NO_STORE)


@router.get("/doctors/{doctor_id}/time-off", response_model=TimeOffList)
async def time_off(ctx: Ctx, user: CurrentUser, doctor_id: PathId) -> Response:
    found = await unavailability.list_time_off(ctx, actor=user, doctor_id=doctor_id)
    return responses.json(found, headers=NO_STORE)


@router.post("/doctors/{doctor_id}/time-off", status_code=201, response_model=TimeOffAdded)
async def add_time_off(
    body: PeriodIn, ctx: Ctx, user: CurrentUser, doctor_id: PathId, force: Force = False
) -> Response:
    created = await unavailability.add_time_off(
        ctx,
        actor=user,
        doctor_id=doctor_id,
        start=body.start,
        end=body.end,
        reason=body.reason,
        force=force,
    )
    return responses.json(created, 201, NO_STORE)


@router.delete("/doctors/{doctor_id}/time-off/{time_off_id}", status_code=204)
async def remove_time_off(
    ctx: Ctx, user: CurrentUser, doctor_id: PathId, time_off_id: PathId
) -> Response:
    await unavailability.remove_time_off(
        ctx, actor=user, doctor_id=doctor_id, time_off_id=time_off_id
    )
    return Response(status_code=204, headers=NO_STORE)


@router.get("/closures", response_model=ClosureList)
async def closures(ctx: Ctx) -> Response:
    found = await unavailability.list_closures(ctx)
    return responses.json(found, headers={"Cache-Control": "no-cache"})


@router.post("/closures", status_code=201, response_model=ClosureAdded)
async def add_closure(
    body: ClosureIn, ctx: Ctx, user: CurrentUser, force: Force = False
) -> Response:
    created = await unavailability.add_closure(
        ctx, actor=user, start=body.start, end=body.end, reason=body.reason, force=force
    )
    return responses.json(created, 201, NO_STORE)


@router.delete("/closures/{closure_id}", status_code=204)
async def remove_closure(ctx: Ctx, user: CurrentUser, closure_id: PathId) -> Response:
    await unavailability.remove_closure(ctx, actor=user, closure_id=closure_id)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/appointment-types", response_model=AppointmentTypeList)
async def appointment_types(
    request: Request,
    ctx: Ctx,
    departmentId: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    user = await optional_user(request)
    found = await types.list_types(ctx, actor=user, department_id=departmentId)
    return responses.json(found, headers=responses.PRIVATE)


@router.post("/appointment-types", status_code=201, response_model=AppointmentType)
async def create_type(body: TypeIn, ctx: Ctx, user: CurrentUser) -> Response:
    created = await types.create_type(
        ctx,
        actor=user,
        department_id=body.department_id,
        name=body.name,
        minutes=body.minutes,
        buffer_before_minutes=body.buffer_before_minutes,
        buffer_after_minutes=body.buffer_after_minutes,
        patient_bookable=body.patient_bookable,
    )
    return responses.json(created, 201, NO_STORE)


@router.patch("/appointment-types/{type_id}", response_model=AppointmentType)
async def change_type(body: TypePatch, ctx: Ctx, user: CurrentUser, type_id: PathId) -> Response:
    updated = await types.update_type(
        ctx, actor=user, type_id=type_id, changes=changes(body, TYPE_CHANGES)
    )
    return responses.json(updated, headers=NO_STORE)
