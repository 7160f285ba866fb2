"""Health, readiness, Prometheus metrics and the browser's page-load beacon."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from careslot.api import responses
from careslot.api.deps import Ctx
from careslot.api.routing import api_router
from careslot.api.schemas import PageLoadIn
from careslot.db.migrate import PENDING, shipped_migrations
from careslot.errors import Unauthenticated
from careslot.monitoring import metrics

router = api_router("system", prefix="")
HEALTHY = b'{"status":"ok"}'


@router.get("/healthz")
async def healthz(_: Request) -> Response:  # served directly (api/routing.py): by the request
    return responses.json_bytes(HEALTHY, headers={"Cache-Control": "no-store"})


_SHIPPED = shipped_migrations()


@router.get("/readyz")
async def readyz(request: Request, ctx: Ctx) -> Response:
    """200 while this node can serve; 503 (a load balancer takes it out) while the database
    is unreachable or has migrations pending (a node of a newer version started early)."""
    migrations = "ok"
    state = request.app.state
    try:
        async with asyncio.timeout(1.0), ctx.pool.acquire() as conn:
            if not getattr(state, "migrated", False):  # once there, never undone
                if await conn.fetchval(PENDING, _SHIPPED):
                    migrations = "pending"
                else:
                    state.migrated = True
            else:
                await conn.fetchval("select 1")
        database = "ok"
    except (OSError, TimeoutError, Exception):  # readiness reports, it never raises
        database = "unavailable"
    ok = database == "ok" and migrations == "ok"
    body = {
        "status": "ok" if ok else "degraded",
        "database": database,
        "migrations": migrations,
        "cache": "memory" if not ctx.settings.redis_url else "redis",
        # ok | lagging | down (reads that may lag then go to the primary) | none | unknown
        "replica": ctx.lagging_reads.state,
    }
    return responses.json(body, 200 if ok else 503, {"Cache-Control": "no-store"})


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request, ctx: Ctx) -> Response:
    token = ctx.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthenticated("metrics need the operator token")
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.post("/api/metrics/page-load", status_code=204)
async def page_load(body: PageLoadIn) -> Response:
    metrics.observe_page_load(body.route, fcp=body.fcp, lcp=body.lcp, tti=body.tti, inp=body.inp)
    return Response(status_code=204)
