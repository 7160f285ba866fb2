"""create_app(): routes, error handlers, and the lifespan that owns pool and background work."""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from careslot import __version__, web
from careslot.api import (
    admin,
    appointments,
    auth,
    catalog,
    dashboard,
    errors,
    messages,
    stats,
    system,
    waitlist,
)
from careslot.api.middleware import SecurityAndLimits
from careslot.api.routing import add_routes, direct, direct_writes, match_first
from careslot.audit.log import AuditLog
from careslot.cache.setup import build_cache
from careslot.cache.setup import subscribe as subscribe_cache
from careslot.clock import Clock, SystemClock
from careslot.config import Settings, get_settings
from careslot.context import Context
from careslot.dashboard.mv import MvRefresher
from careslot.db.pool import create_pool
from careslot.db.pruning import Pruner
from careslot.db.replica import LaggingReads
from careslot.db.urls import resolve_database_url
from careslot.messages import outbox
from careslot.messages.sender import Sender
from careslot.monitoring import metrics
from careslot.monitoring.middleware import Monitoring
from careslot.scheduling.cache import warm
from careslot.waitlist.sweeper import Sweeper

# The reads that carry the load (the bench's mix and every dashboard): matched first, and
# served without FastAPI's request handler, since their endpoints take only the request.
HOTTEST_READS = (
    "/api/dashboard/stats",
    "/api/slots",
    "/healthz",
    "/api/departments",
    "/api/doctors",
)


def start_warming(ctx: Context) -> asyncio.Task[int] | None:
    """Warm in the background: serving starts at once, warmed answers arrive within moments."""
    if not ctx.cache.enabled or not ctx.settings.cache_warm:
        return None
    return asyncio.create_task(warm(ctx), name="cache-warm")


@functools.cache
def freeze_start_up() -> None:
    """Once per process, after the first app has started: keep what start-up built (modules,
    routes, models, pools: about 100,000 objects) out of every later full collection. Each
    full collection walked them all, 20-140 ms in a bench worker on this machine, with every
    request of that worker waiting; a booking's p99 was those pauses. No collection first:
    it would hold the interpreter for 70 ms or more of every worker's start-up, to spare the
    few hundred objects of start-up garbage that stay frozen with the rest."""
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    database_url: str | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The app; `clock` defaults to the system's (tests pass a movable one)."""
    settings = settings or get_settings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(settings)
        # Listeners and leader locks need a session of their own: behind a transaction
        # pooler (PgBouncer) they connect to the primary directly (docs/deploy.md).
        direct = settings.database_direct_url or url
        pool = await create_pool(settings, url)
        reads = await LaggingReads.create(settings, pool, now=clock.now)
        audit = AuditLog(pool, clock=clock)
        cache = build_cache(settings, database_url=direct, pool=pool, clock=clock)
        ctx = Context(
            settings=settings, pool=pool, audit=audit, clock=clock, cache=cache, reads=reads
        )
        app.state.ctx = ctx
        audit.start()
        subscribe_cache(cache, ctx.changes, pool)
        await cache.start()
        warming = start_warming(ctx)
        reads.start()
        refresher = MvRefresher(direct, settings)
        refresher.start()
        pruner = Pruner(pool, settings, now=clock.now)
        pruner.start()
        waker = outbox.Waker(pool)
        ctx.changes.subscribe(waker.on_change)
        sender = Sender(direct, settings, now=clock.now)
        if settings.outbox_sender:
            sender.start()
        sweeper = Sweeper(ctx, direct)  # LISTEN needs a direct connection
        if settings.waitlist_enabled and settings.waitlist_sweeper:
            sweeper.start()
        freeze_start_up()
        try:
            yield
        finally:
            if warming is not None:
                warming.cancel()
            await cache.stop()
            await refresher.stop()
            await pruner.stop()
            await waker.stop()
            await sender.stop()
            await sweeper.stop()
            await audit.stop()
            await reads.stop()
            metrics.untrack_pool(pool)
            await pool.close()

    app = FastAPI(
        title="careslot",
        version=__version__,
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's own OpenTelemetry asked the global providers whether anyone listens on
        # every request (environment look-ups: 5-6 µs of /healthz's 42, measured with
        # scripts/measure_hot_reads.py); careslot's metrics are Prometheus.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    # Requests are matched against the routes in this order, one by one: the busiest first
    # (matching the admin router's many routes cost the dashboard a fifth of its time when
    # it came first), and the hottest reads before everything, FastAPI's own pages included.
    for module in (
        system,
        catalog,
        dashboard,
        appointments,
        auth,
        waitlist,
        stats,
        messages,
        admin,
    ):
        add_routes(app, module.router)
    web.install(app)
    match_first(app, HOTTEST_READS)
    direct(app, HOTTEST_READS)
    direct_writes(app, appointments.DIRECT_WRITES)
    app.add_middleware(SecurityAndLimits, max_body=settings.max_body_bytes)
    app.add_middleware(
        Monitoring,
        slow_ms=settings.slow_ms,
        expose_worker=settings.expose_worker,
        node=settings.node,
    )  # outermost: times everything
    return app
