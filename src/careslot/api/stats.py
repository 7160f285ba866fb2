"""Hospital-wide figures for staff, from the materialized view (up to 30 s old)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from careslot.accounts.models import User
from careslot.api import responses
from careslot.api.deps import context, current_user
from careslot.context import Context
from careslot.dashboard import mv

router = APIRouter(prefix="/api", tags=["dashboard"])


@router.get("/stats/hospital")
async def hospital(
    ctx: Annotated[Context, Depends(context)], user: Annotated[User, Depends(current_user)],
) -> Response:
    return responses.json(await mv.hospital_stats(ctx, actor=user), headers=responses.PRIVATE)
