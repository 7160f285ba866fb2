"""/admin/messages: what was sent, held or failed (staff, admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from careslot.api.deps import get_ctx
from careslot.messages import service
from careslot.web.render import SENSITIVE, page, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/admin/messages")
async def messages_page(
    request: Request, status: Annotated[str | None, Query(max_length=16)] = None
) -> Response:
    user = await signed_in(request, "staff", "admin")
    wanted = status if status in service.STATUSES else None
    found = await service.messages(get_ctx(request), actor=user, status=wanted)
    return page(
        request,
        "admin_messages.html",
        user=user,
        title="Messages",
        items=found.items,
        statuses=service.STATUSES,
        chosen=wanted,
        cache_control=SENSITIVE,
    )
