"""The waitlist (SPEC section 10): join, list, leave; accept or decline an offer."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header, Path, Query
from starlette.responses import Response

from careslot.api import responses
from careslot.api.deps import Ctx, CurrentUser
from careslot.api.routing import api_router
from careslot.api.schemas import MAX_ID, WaitlistIn
from careslot.booking.schemas import Appointment
from careslot.waitlist import service as waitlist
from careslot.waitlist.schemas import WaitlistEntry, WaitlistListing

router = api_router("waitlist")
EntryId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/waitlist", status_code=201, response_model=WaitlistEntry)
async def join(body: WaitlistIn, ctx: Ctx, user: CurrentUser) -> Response:
    entry = await waitlist.join(
        ctx,
        actor=user,
        doctor_id=body.doctor_id,
        department_id=body.department_id,
        first_day=body.from_,
        last_day=body.to,
        type_id=body.type_id,
        client_id=body.client_id,
    )
    return responses.json(entry, 201, headers=responses.SENSITIVE)


@router.get("/waitlist", response_model=WaitlistListing)
async def listing(
    ctx: Ctx,
    user: CurrentUser,
    doctorId: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    found = await waitlist.listing(ctx, actor=user, doctor_id=doctorId)
    return responses.json(found, headers=responses.SENSITIVE)


@router.delete("/waitlist/{entry_id:int}", status_code=204)
async def leave(entry_id: EntryId, ctx: Ctx, user: CurrentUser) -> Response:
    await waitlist.remove(ctx, actor=user, entry_id=entry_id)
    return Response(status_code=204, headers=responses.SENSITIVE)


@router.post("/waitlist/{entry_id:int}/accept", status_code=201, response_model=Appointment)
async def accept(
    entry_id: EntryId,
    ctx: Ctx,
    user: CurrentUser,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    booked = await waitlist.accept(
        ctx,
        actor=user,
        entry_id=entry_id,
        idempotency_key=idempotency_key,
        request_hash=hashlib.sha256(f"waitlist-accept:{entry_id}".encode()).digest(),
    )
    headers = {**responses.SENSITIVE}
    if booked.replayed:
        headers["Idempotent-Replayed"] = "true"
    return responses.json_bytes(booked.body, 201, headers)


@router.post("/waitlist/{entry_id:int}/decline", response_model=WaitlistEntry)
async def decline(entry_id: EntryId, ctx: Ctx, user: CurrentUser) -> Response:
    entry = await waitlist.decline(ctx, actor=user, entry_id=entry_id)
    return responses.json(entry, headers=responses.SENSITIVE)
