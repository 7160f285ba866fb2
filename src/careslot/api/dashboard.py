"""The patient dashboard and the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from careslot.api.deps import Ctx, CurrentUser, get_ctx
from careslot.api.queries import query_of, query_parameters
from careslot.api.routing import api_router
from careslot.api.schemas import MAX_ID
from careslot.cache.http import cached_response
from careslot.dashboard import cache as reads
from careslot.dashboard.schemas import ActivityFeed, StatsAnswer

router = api_router("dashboard")


class StatsQuery(BaseModel):
    clientId: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None  # staff: whose figures


@router.get(
    "/dashboard/stats", response_model=StatsAnswer, openapi_extra=query_parameters(StatsQuery)
)
async def stats(request: Request, user: CurrentUser) -> Response:
    # The session is the one dependency (it documents the 401/403); the rest is read here.
    ctx, q = get_ctx(request), query_of(StatsQuery, request)
    answer = await reads.stats(ctx, actor=user, client_id=q.clientId)
    return cached_response(request, answer)


@router.get("/activity", response_model=ActivityFeed)
async def activity(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    return cached_response(request, await reads.activity(ctx, actor=user, limit=limit))
