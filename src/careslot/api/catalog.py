"""Public reference data: departments, doctors, free slots; and a doctor's schedule."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from careslot import clock
from careslot.api.deps import Ctx, CurrentUser
from careslot.api.schemas import MAX_ID
from careslot.cache.http import cached_response
from careslot.errors import ValidationFailed
from careslot.scheduling import cache as reads
from careslot.scheduling.schemas import Department, Doctor, DoctorSchedule, SlotList

router = APIRouter(prefix="/api", tags=["catalog"])
M = TypeVar("M", bound=BaseModel)
OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Day = Annotated[dt.date | None, Query(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))]


@router.get("/departments", response_model=list[Department])
async def departments(request: Request, ctx: Ctx) -> Response:
    return cached_response(request, await reads.departments(ctx))


@router.get("/doctors", response_model=list[Doctor])
async def doctors(
    request: Request,
    ctx: Ctx,
    departmentId: OptId = None,
) -> Response:
    return cached_response(request, await reads.doctors(ctx, department_id=departmentId))


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


Id = Annotated[int | None, Field(ge=1, le=MAX_ID)]
Date = Annotated[dt.date | None, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))]


class SlotQuery(BaseModel):
    doctorId: Id = None
    departmentId: Id = None
    date: Date = None
    from_: Date = Field(None, alias="from")
    to: Date = None
    typeId: Id = None


def query_of(model: type[M], request: Request) -> M:
    """`model` from the query string in one pydantic call; FastAPI's per-parameter
    declarations cost a cached slot list about a fifth of its time (py-spy)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI parameters of a query model (declared by hand since the route reads the
    query itself)."""
    schema = model.model_json_schema(by_alias=True)
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": field}
            for name, field in schema["properties"].items()
        ]
    }


@router.get("/slots", response_model=SlotList, openapi_extra=query_parameters(SlotQuery))
async def slots(request: Request, ctx: Ctx) -> Response:
    q = query_of(SlotQuery, request)
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
