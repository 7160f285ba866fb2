"""Server-rendered pages, their static files and the service worker."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the pages, static files and service worker, and the HTML error pages; compile
    the templates and hash the static files now rather than on a visitor's first request."""
    from careslot.web import admin, admin_catalog, assets, desk, errors, messages, pages, render

    for module in (pages, desk, admin, admin_catalog, messages, assets):
        app.include_router(module.router)
    errors.install(app)
    render.warm()
