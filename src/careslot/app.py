"""create_app(): routes, error handlers, and the lifespan that owns pool and background work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from careslot import __version__
from careslot.api import appointments, auth, catalog, dashboard, errors, system
from careslot.api.middleware import SecurityAndLimits
from careslot.audit.log import AuditLog
from careslot.config import Settings, get_settings
from careslot.context import Context
from careslot.db.pool import create_pool
from careslot.db.urls import resolve_database_url


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(settings)
        pool = await create_pool(settings, url)
        audit = AuditLog(pool)
        ctx = Context(settings=settings, pool=pool, audit=audit)
        app.state.ctx = ctx
        audit.start()
        try:
            yield
        finally:
            await audit.stop()
            await pool.close()

    app = FastAPI(
        title="careslot", version=__version__, lifespan=lifespan,
        default_response_class=ORJSONResponse, docs_url="/docs", redoc_url=None,
    )
    errors.install(app)
    for module in (auth, catalog, appointments, dashboard, system):
        app.include_router(module.router)
    app.add_middleware(SecurityAndLimits, max_body=settings.max_body_bytes)
    return app
