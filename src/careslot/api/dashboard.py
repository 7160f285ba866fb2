"""The patient dashboard and the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from careslot.api.deps import Ctx, CurrentUser
from careslot.api.schemas import MAX_ID
from careslot.cache.http import cached_response
from careslot.dashboard import cache as reads
from careslot.dashboard.schemas import ActivityFeed, StatsAnswer

router = APIRouter(prefix="/api", tags=["dashboard"])


@router.get("/dashboard/stats", response_model=StatsAnswer)
async def stats(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    clientId: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    answer = await reads.stats(ctx, actor=user, client_id=clientId)
    return cached_response(request, answer)


@router.get("/activity", response_model=ActivityFeed)
async def activity(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    return cached_response(request, await reads.activity(ctx, actor=user, limit=limit))
