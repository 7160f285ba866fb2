"""Hospital-wide figures for staff, from the materialized view (up to 30 s old)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from careslot.api import responses
from careslot.api.deps import Ctx, CurrentUser
from careslot.dashboard import mv
from careslot.dashboard.schemas import HospitalStats

router = APIRouter(prefix="/api", tags=["dashboard"])


@router.get("/stats/hospital", response_model=HospitalStats)
async def hospital(
    ctx: Ctx,
    user: CurrentUser,
) -> Response:
    return responses.json(await mv.hospital_stats(ctx, actor=user), headers=responses.PRIVATE)
