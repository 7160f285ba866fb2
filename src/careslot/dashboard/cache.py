"""The dashboard's cached reads: a patient's figures and the activity feed (access.py
decides whose, before any look-up; every read is audited once here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from careslot import access, jsonutil
from careslot.accounts.models import User
from careslot.cache import keys
from careslot.cache import strategies as s
from careslot.cache.core import Answer
from careslot.dashboard import service as dashboard

if TYPE_CHECKING:
    from careslot.context import Context


async def stats(ctx: Context, *, actor: User, client_id: int | None) -> Answer:
    scope = access.dashboard(actor, client_id=client_id)

    async def load() -> bytes:
        return jsonutil.dumps(await dashboard.stats(ctx, actor=actor, scope=scope))

    key = keys.key(s.USER_STATS.name, scope.identity)
    answer = await ctx.cache.answer(s.USER_STATS, key, scope.owners, load)
    ctx.audit.read(actor_id=actor.id, subject_id=scope.subject, entity="dashboard")
    return answer


async def activity(ctx: Context, *, actor: User, limit: int) -> Answer:
    scope = access.activity(actor)

    async def load() -> bytes:
        return jsonutil.dumps(await dashboard.activity(ctx, scope=scope, limit=limit))

    key = keys.key(s.RECENT_ACTIVITY.name, scope.identity, limit)
    answer = await ctx.cache.answer(s.RECENT_ACTIVITY, key, scope.owners, load)
    ctx.audit.read(actor_id=actor.id, subject_id=scope.subject, entity="activity")
    return answer
