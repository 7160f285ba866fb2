"""The patient dashboard and the recent-activity feed."""

from __future__ import annotations

from typing import Any

from careslot import clock
from careslot.accounts.models import User
from careslot.context import Context
from careslot.dashboard import repository as repo
from careslot.errors import Forbidden, NotFound


def stats_owner(actor: User, client_id: int | None) -> int:
    """Whose dashboard the caller may see: the caller's identity decides, never the query."""
    if actor.role == "patient":
        if client_id is not None and client_id != actor.id:
            raise Forbidden("patients see their own dashboard only")
        return actor.id
    if not actor.is_staff:
        raise Forbidden("only patients and staff have dashboards")
    if client_id is None:
        raise Forbidden("staff must name a clientId")
    return client_id


async def stats(ctx: Context, *, actor: User, client_id: int | None) -> dict[str, Any]:
    owner = stats_owner(actor, client_id)
    now = ctx.clock.now()
    local = now.astimezone(ctx.zone)
    month_start, month_end = clock.month_bounds(local.year, local.month, ctx.zone)
    async with ctx.pool.acquire() as conn:
        if actor.role != "patient" and not await repo.is_patient(conn, owner):
            raise NotFound("no such patient")
        data = await repo.stats(conn, owner, now, month_start, month_end)
    ctx.audit.read(actor_id=actor.id, subject_id=owner, entity="dashboard")
    return {"success": True, "data": data}


async def activity(ctx: Context, *, actor: User, limit: int) -> dict[str, Any]:
    client_id = None if actor.is_staff else actor.id
    if actor.role == "doctor":
        raise Forbidden("doctors see activity on their schedule page")
    async with ctx.pool.acquire() as conn:
        items = await repo.activity(conn, client_id, limit)
    ctx.audit.read(actor_id=actor.id, subject_id=client_id, entity="activity")
    return {"items": items}
