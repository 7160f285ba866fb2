"""Hospital-wide figures for staff, from the materialized view (up to 30 s old)."""

from __future__ import annotations

from starlette.responses import Response

from careslot.api import responses
from careslot.api.deps import Ctx, CurrentUser
from careslot.api.routing import api_router
from careslot.dashboard import mv
from careslot.dashboard.schemas import HospitalStats

router = api_router("dashboard")


@router.get("/stats/hospital", response_model=HospitalStats)
async def hospital(
    ctx: Ctx,
    user: CurrentUser,
) -> Response:
    return responses.json(await mv.hospital_stats(ctx, actor=user), headers=responses.PRIVATE)
