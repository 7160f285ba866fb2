"""The patient dashboard and the recent-activity feed."""

from __future__ import annotations

from careslot import clock
from careslot.access import Scope
from careslot.accounts.models import User
from careslot.context import Context
from careslot.dashboard import repository as repo
from careslot.dashboard.schemas import ActivityFeed, StatsAnswer
from careslot.errors import NotFound


async def stats(ctx: Context, *, actor: User, scope: Scope) -> StatsAnswer:
    """The dashboard of the patient `scope` allows (access.dashboard decided it)."""
    owner = scope.client_id
    assert owner is not None
    now = ctx.clock.now()
    local = now.astimezone(ctx.zone)
    month_start, month_end = clock.month_bounds(local.year, local.month, ctx.zone)
    async with ctx.pool.acquire() as conn:
        if not actor.is_patient and not await repo.is_patient(conn, owner):
            raise NotFound("no such patient")
        data = await repo.stats(conn, owner, now, month_start, month_end)
    return StatsAnswer(data=data)


async def activity(ctx: Context, *, scope: Scope, limit: int) -> ActivityFeed:
    """Recent activity that `scope` allows (access.activity decided it)."""
    async with ctx.pool.acquire() as conn:
        items = await repo.activity(conn, scope.client_id, limit)
    return ActivityFeed(items=items)
