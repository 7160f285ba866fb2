"""The patient dashboard and the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from pydantic import Field
from starlette.responses import Response

from careslot.api.deps import Ctx, CurrentUser, current_user, get_ctx
from careslot.api.problems import problems
from careslot.api.queries import QueryModel, query_of, query_parameters
from careslot.api.routing import api_router
from careslot.api.schemas import MAX_ID
from careslot.cache.http import cached_response
from careslot.dashboard import cache as reads
from careslot.dashboard.schemas import ActivityFeed, StatsAnswer

router = api_router("dashboard")


class StatsQuery(QueryModel):
    clientId: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None  # staff: whose figures


@router.get(
    "/dashboard/stats",
    response_model=StatsAnswer,
    responses=problems(401, 403),
    openapi_extra=query_parameters(StatsQuery),
)
async def stats(request: Request) -> Response:
    # No FastAPI dependency, not even the session's: solving one costs a cached dashboard
    # about a tenth of its CPU. The caller first (a 401 before a bad query, as a dependency
    # would), then the query; `responses` documents the 401/403 the dependency did.
    user = await current_user(request)
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
