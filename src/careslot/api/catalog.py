"""Public reference data: departments, doctors, free slots; and a doctor's schedule."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query, Request
from pydantic import Field
from starlette.responses import Response

from careslot import clock
from careslot.api.deps import Ctx, CurrentUser, get_ctx
from careslot.api.queries import QueryModel, query_of, query_parameters
from careslot.api.routing import api_router
from careslot.api.schemas import MAX_ID
from careslot.cache.http import cached_response
from careslot.errors import ValidationFailed
from careslot.scheduling import cache as reads
from careslot.scheduling.schemas import Department, Doctor, DoctorSchedule, SlotList

router = api_router("catalog")
Id = Annotated[int | None, Field(ge=1, le=MAX_ID)]
Day = Annotated[dt.date | None, Query(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))]


@router.get("/departments", response_model=list[Department])
async def departments(request: Request) -> Response:
    return cached_response(request, await reads.departments(get_ctx(request)))


class DoctorsQuery(QueryModel):
    departmentId: Id = None


@router.get("/doctors", response_model=list[Doctor], openapi_extra=query_parameters(DoctorsQuery))
async def doctors(request: Request) -> Response:
    ctx, q = get_ctx(request), query_of(DoctorsQuery, request)
    return cached_response(request, await reads.doctors(ctx, department_id=q.departmentId))


def day_range(
    date: dt.date | None,
    first: dt.date | None,
    last: dt.date | None,
) -> tuple[dt.date, dt.date]:
    if date is not None:
        if first or last:
            raise ValidationFailed("give either date or from/to")
        return date, date
    if first is None or last is None:
        raise ValidationFailed("give date, or both from and to")
    return first, last


Date = Annotated[dt.date | None, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))]


class SlotQuery(QueryModel):
    doctorId: Id = None
    departmentId: Id = None
    date: Date = None
    from_: Date = Field(None, alias="from")
    to: Date = None
    typeId: Id = None


@router.get("/slots", response_model=SlotList, openapi_extra=query_parameters(SlotQuery))
async def slots(request: Request) -> Response:
    # No dependencies at all: FastAPI's solving of even one costs a cached answer ~10%.
    ctx, q = get_ctx(request), query_of(SlotQuery, request)
    first, last = day_range(q.date, q.from_, q.to)
    answer = await reads.slots(
        ctx,
        doctor_id=q.doctorId,
        department_id=q.departmentId,
        first=first,
        last=last,
        type_id=q.typeId,
    )
    return cached_response(request, answer)


@router.get("/doctors/{doctor_id:int}/schedule", response_model=DoctorSchedule)
async def doctor_schedule(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    doctor_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    from_: Annotated[Day, Query(alias="from")] = None,
    to: Day = None,
) -> Response:
    first, last = day_range(None, from_, to) if from_ or to else (None, None)
    if first is None or last is None:
        first = clock.today(ctx.zone, ctx.clock.now())
        last = first + dt.timedelta(days=6)
    answer = await reads.doctor_schedule(
        ctx, actor=user, doctor_id=doctor_id, first=first, last=last
    )
    return cached_response(request, answer)
