"""Messages (SPEC section 9): the outbox for staff, reminder opt-out, calendar feeds,
webhooks for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from pydantic import Field, StrictBool
from starlette.responses import Response

from careslot.api import responses
from careslot.api.deps import Ctx, CurrentUser
from careslot.api.routing import api_router
from careslot.api.schemas import MAX_ID, Body, Text
from careslot.messages import service, webhooks
from careslot.messages.schemas import OutboxListing, Profile, WebhookList, WebhookRegistered

router = api_router("messages")
OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
FEED_HEADERS = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


class ProfilePatch(Body):
    reminders: StrictBool  # 0 and "yes" are not booleans (the schema says boolean)


class WebhookIn(Body):
    url: Annotated[Text, Field(min_length=8, max_length=2000)]
    events: Annotated[list[Annotated[Text, Field(max_length=64)]], Field(max_length=20)]


@router.get("/admin/messages", response_model=OutboxListing)
async def messages(
    ctx: Ctx,
    user: CurrentUser,
    appointment_id: Annotated[OptId, Query(alias="appointmentId")] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    found = await service.messages(ctx, actor=user, appointment_id=appointment_id, status=status)
    return responses.json(found, headers=responses.SENSITIVE)


@router.patch("/users/profile", response_model=Profile)
async def update_profile(body: ProfilePatch, ctx: Ctx, user: CurrentUser) -> Response:
    updated = await service.set_reminders(ctx, actor=user, enabled=body.reminders)
    return responses.json(updated, headers=responses.SENSITIVE)


@router.post("/users/calendar-token")
async def calendar_token(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    token = await service.new_calendar_token(ctx, actor=user)
    url = str(request.url_for("calendar_feed").include_query_params(token=token))
    return responses.json({"url": url}, headers=responses.SENSITIVE)


class ICalendar(Response):
    """What the feed answers, so the OpenAPI document says so (not application/json)."""

    media_type = "text/calendar"


@router.get("/calendar.ics", name="calendar_feed", response_class=ICalendar)
async def calendar_feed(ctx: Ctx, token: Annotated[str, Query(max_length=200)]) -> Response:
    body = await service.calendar_feed(ctx, token=token)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=FEED_HEADERS)


@router.post("/admin/webhooks", status_code=201, response_model=WebhookRegistered)
async def register_webhook(body: WebhookIn, ctx: Ctx, user: CurrentUser) -> Response:
    created = await webhooks.register(ctx, actor=user, url=body.url, events=body.events)
    return responses.json(created, 201, headers=responses.SENSITIVE)


@router.get("/admin/webhooks", response_model=WebhookList)
async def list_webhooks(ctx: Ctx, user: CurrentUser) -> Response:
    return responses.json(await webhooks.listing(ctx, actor=user), headers=responses.SENSITIVE)


@router.delete("/admin/webhooks/{webhook_id:int}", status_code=204)
async def delete_webhook(
    ctx: Ctx, user: CurrentUser, webhook_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    await webhooks.delete(ctx, actor=user, webhook_id=webhook_id)
    return Response(status_code=204)
