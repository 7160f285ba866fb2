"""The patient dashboard and the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from careslot.accounts.models import User
from careslot.api import responses
from careslot.api.deps import current_user, get_ctx
from careslot.api.schemas import MAX_ID
from careslot.context import Context
from careslot.dashboard import service as dashboard

router = APIRouter(prefix="/api", tags=["dashboard"])
Ctx = Annotated[Context, Depends(get_ctx)]
CurrentUser = Annotated[User, Depends(current_user)]


@router.get("/dashboard/stats")
async def stats(
    ctx: Ctx, user: CurrentUser,
    clientId: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,  # noqa: N803
) -> Response:
    result = await dashboard.stats(ctx, actor=user, client_id=clientId)
    return responses.json(result, headers=responses.PRIVATE)


@router.get("/activity")
async def activity(
    ctx: Ctx, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    return responses.json(await dashboard.activity(ctx, actor=user, limit=limit),
                          headers=responses.PRIVATE)
