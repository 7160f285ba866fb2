"""Jinja2 rendering: one environment, the hospital's clock for dates, page headers."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from careslot.accounts.models import User
from careslot.api.deps import get_ctx, optional_user
from careslot.errors import Unauthenticated
from careslot.web.assets import asset_url

# Pages with a patient's appointments are as sensitive as the API's appointment answers
# (no-store); the dashboard and booking pages may be kept by the service worker in the
# user's own cache (private, revalidated) so that they open offline.
KEEPABLE = "private, no-cache"
SENSITIVE = "private, no-store"
PUBLIC_PAGE = "no-cache"
HOMES = {"patient": "/dashboard", "staff": "/desk", "admin": "/desk", "doctor": "/doctor"}


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("careslot.web", "templates"),
        autoescape=select_autoescape(["html"]),
        # A field a template names but the shape lacks (a rename) fails the page, loudly,
        # instead of rendering nothing.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = asset_url
    env.globals["query"] = urlencode
    env.filters["reject_key"] = lambda mapping, key: {k: v for k, v in mapping.items() if k != key}
    return env


class Clock:
    """Dates and times as the hospital reads them (CARESLOT_TIMEZONE)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def local(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(self.zone)

    def time(self, instant: dt.datetime) -> str:
        return self.local(instant).strftime("%H:%M")

    def day(self, instant: dt.datetime | dt.date) -> str:
        value = self.local(instant) if isinstance(instant, dt.datetime) else instant
        return value.strftime("%a %d %b %Y").replace(" 0", " ")

    def when(self, instant: dt.datetime) -> str:
        return f"{self.day(instant)}, {self.time(instant)}"

    def iso(self, instant: dt.datetime) -> str:
        return self.local(instant).isoformat()


def home_of(user: User) -> str:
    return HOMES.get(user.role, "/dashboard")


def page(
    request: Request,
    template: str,
    *,
    user: User | None,
    title: str,
    cache_control: str = KEEPABLE,
    status: int = 200,
    **data: Any,
) -> Response:
    ctx = get_ctx(request)
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=user,
            title=title,
            route=request.url.path,
            t=Clock(ctx.zone),
            now=ctx.clock.now(),
            home=home_of(user) if user else "/",
            status=status,
            **data,
        )
    )
    return HTMLResponse(
        html,
        status,
        headers={
            "Cache-Control": cache_control,
            "Careslot-Scope": "user" if user else "public",
            "Speculation-Rules": f'"{asset_url("speculation.json")}"',
            "Vary": "Cookie",
        },
    )


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(
        f"/login?next={quote(target, safe='')}", 303, headers={"Cache-Control": "no-store"}
    )


class ElsewhereHome(Exception):
    """The page is for another role: send the caller to their own home page."""

    def __init__(self, user: User) -> None:
        super().__init__(home_of(user))
        self.target = home_of(user)


def go_home(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ElsewhereHome)
    return RedirectResponse(exc.target, 303, headers={"Cache-Control": "no-store"})


async def signed_in(request: Request, *roles: str) -> User:
    """The caller of a page for `roles`. Signed out: Unauthenticated, which the page error
    handler turns into the sign-in page (and back); another role: their own home page."""
    user = await optional_user(request)
    if user is None:
        raise Unauthenticated("sign in first")
    if roles and user.role not in roles:
        raise ElsewhereHome(user)
    return user


def warm() -> None:
    env = environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    asset_url("app.js")
