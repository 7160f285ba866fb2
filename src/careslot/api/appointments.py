"""Appointments: book, list, read, change; the calendar; the staff stream."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

from fastapi import Header, Path, Query, Request
from pydantic import BeforeValidator
from starlette.responses import Response, StreamingResponse

from careslot import clock
from careslot.api import bodies, responses
from careslot.api.deps import Ctx, CurrentUser, get_ctx
from careslot.api.routing import Serve, api_router
from careslot.api.schemas import MAX_ID, AppointmentPatch, BookIn, iso_only
from careslot.booking import cache as reads
from careslot.booking import service as booking
from careslot.booking import stream
from careslot.booking.schemas import Appointment, AppointmentPage, Calendar
from careslot.cache.http import cached_response
from careslot.errors import ValidationFailed

router = api_router("appointments")
OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Instant = Annotated[dt.datetime | None, Query(), BeforeValidator(iso_only)]


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(f"'{name}' needs a UTC offset, e.g. 2026-01-05T09:00:00+00:00")
    return value


@router.post("/appointments", status_code=201, response_model=Appointment)
async def book(
    body: BookIn,
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    raw = await request.body()
    booked = await booking.book(
        ctx,
        actor=user,
        doctor_id=body.doctor_id,
        start=body.start,
        reason=body.reason,
        client_id=body.client_id,
        type_id=body.type_id,
        idempotency_key=idempotency_key,
        request_hash=hashlib.sha256(raw).digest(),
    )
    headers = {**responses.SENSITIVE}
    if booked.replayed:
        headers["Idempotent-Replayed"] = "true"
    return responses.json_bytes(booked.body, 201, headers)


async def _book(request: Request) -> Response:
    """`book` without FastAPI's request handler (api/bodies.py): a booking's CPU is the
    write path's bottleneck."""
    body, user, errors = await bodies.request_of(request)
    key = bodies.header(request, "idempotency-key", max_length=200, errors=errors)
    return await book(bodies.validated(BookIn, body, errors), request, get_ctx(request), user, key)


@router.get("/appointments", response_model=AppointmentPage)
async def list_appointments(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    status: Annotated[str | None, Query(max_length=32)] = None,
    from_: Annotated[Instant, Query(alias="from")] = None,
    to: Instant = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    doctorId: OptId = None,
    clientId: OptId = None,
) -> Response:
    answer = await reads.appointments(
        ctx,
        actor=user,
        status=status,
        start=_aware(from_, "from"),
        end=_aware(to, "to"),
        limit=limit,
        cursor=cursor,
        doctor_id=doctorId,
        client_id=clientId,
    )
    return cached_response(request, answer)


class NDJSON(StreamingResponse):
    """What the stream answers, so the OpenAPI document says so (not application/json)."""

    media_type = "application/x-ndjson"


@router.get("/appointments/stream", response_class=NDJSON)
async def stream_appointments(ctx: Ctx, user: CurrentUser) -> Response:
    return StreamingResponse(
        stream.ndjson(ctx, actor=user),
        media_type="application/x-ndjson",
        headers=responses.SENSITIVE,
    )


@router.get("/appointments/{appointment_id:int}", response_model=Appointment)
async def get_appointment(
    ctx: Ctx,
    user: CurrentUser,
    appointment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    appointment = await booking.get(ctx, actor=user, appointment_id=appointment_id)
    return responses.json(appointment, headers=responses.SENSITIVE)


@router.patch("/appointments/{appointment_id:int}", response_model=Appointment)
async def change_appointment(
    body: AppointmentPatch,
    ctx: Ctx,
    user: CurrentUser,
    appointment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    answer = await booking.update(
        ctx, actor=user, appointment_id=appointment_id, status=body.status, start=body.start
    )
    return responses.json_bytes(answer, headers=responses.SENSITIVE)


async def _change(request: Request) -> Response:
    """`change_appointment` without FastAPI's request handler, as `_book`."""
    body, user, errors = await bodies.request_of(request)
    appointment_id = bodies.path_id(request, "appointment_id", le=MAX_ID, errors=errors)
    patch = bodies.validated(AppointmentPatch, body, errors)
    return await change_appointment(patch, get_ctx(request), user, appointment_id)


# The busiest writes, served without FastAPI's handler (routing.direct_writes).
DIRECT_WRITES: dict[tuple[str, str], Serve] = {
    ("POST", "/api/appointments"): _book,
    ("PATCH", "/api/appointments/{appointment_id:int}"): _change,
}


@router.get("/calendar", response_model=Calendar)
async def calendar(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    month: Annotated[str | None, Query(max_length=7)] = None,
    doctorId: OptId = None,
) -> Response:
    year, mon = clock.parse_month(month, clock.today(ctx.zone, ctx.clock.now()))
    answer = await reads.calendar(ctx, actor=user, year=year, month=mon, doctor_id=doctorId)
    return cached_response(request, answer)
