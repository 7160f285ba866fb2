"""Jinja2 rendering: one environment, the hospital's clock for dates, page headers."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from careslot.accounts.models import User
from careslot.api.deps import get_ctx, optional_user
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

    def local(self, instant: dt.datetime | str) -> dt.datetime:
        # Cached answers may carry ISO strings where the database gave datetimes.
        if isinstance(instant, str):
            instant = dt.datetime.fromisoformat(instant)
        return instant.astimezone(self.zone)

    def time(self, instant: dt.datetime | str) -> str:
        return self.local(instant).strftime("%H:%M")

    def day(self, instant: dt.datetime | dt.date | str) -> str:
        value = instant if type(instant) is dt.date else self.local(instant)  # type: ignore[arg-type]
        return value.strftime("%a %d %b %Y").replace(" 0", " ")

    def when(self, instant: dt.datetime | str) -> str:
        return f"{self.day(instant)}, {self.time(instant)}"

    def iso(self, instant: dt.datetime | str) -> str:
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
            t=Clock(ctx.settings.zone),
            now=ctx.clock.now(),
            home=home_of(user) if user else "/",
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


async def signed_in(request: Request, *roles: str) -> User | Response:
    """The caller, or where to send them: the sign-in page, or their own home page."""
    user = await optional_user(request)
    if user is None:
        return to_login(request)
    if roles and user.role not in roles:
        return RedirectResponse(home_of(user), 303, headers={"Cache-Control": "no-store"})
    return user


def warm() -> None:
    env = environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    asset_url("app.js")
