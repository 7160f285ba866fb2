"""Request dependencies: the service context and the caller's identity (from the session)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from careslot.accounts import limits, sessions
from careslot.accounts.models import User
from careslot.context import Context
from careslot.errors import Forbidden, Unauthenticated
from careslot.headers import header

SESSION_COOKIE = "careslot_session"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def context(request: Request) -> Context:
    """get_ctx as a dependency. Async on purpose: FastAPI runs a sync dependency in a thread
    pool, which costs more than a warm cached read itself: about 0.65 ms against 0.07 ms
    per in-process request, median (tests/monitoring/test_overheads.py, --benchmark-only)."""
    return get_ctx(request)


def session_token(request: Request) -> tuple[str | None, bool]:
    """The token and whether it came from the cookie (which needs an origin check). The
    header is read from the raw list: a Headers object costs 0.7 µs of every signed-in
    request, for one header."""
    raw = header(request.scope["headers"], b"authorization")
    if raw:
        scheme, _, token = raw.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip(), False
        raise Unauthenticated("use 'Authorization: Bearer <token>'")
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def check_same_origin(request: Request) -> None:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden("cross-site request refused")
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise Forbidden("cross-origin request refused")


async def same_origin(request: Request) -> None:
    """check_same_origin as a route dependency: it runs before the body is validated."""
    check_same_origin(request)


def client_address(request: Request, ctx: Context) -> str:
    """The client's address for per-address limits (see accounts/limits.py)."""
    peer = request.client.host if request.client else None
    return limits.client_address(
        peer, request.headers.get("x-forwarded-for"), ctx.settings.trusted_proxies
    )


async def current_user(request: Request) -> User:
    # request.state's own dict, read directly: `getattr(request.state, "user", None)` built
    # the State wrapper and raised and caught an AttributeError, 1.7 µs of every request.
    state = request.scope.setdefault("state", {})
    cached: User | None = state.get("user")
    if cached is not None:
        return cached
    token, from_cookie = session_token(request)
    if token is None:
        raise Unauthenticated("sign in first")
    if from_cookie and request.method in UNSAFE:
        check_same_origin(request)
    ctx = get_ctx(request)
    user = await sessions.authenticate(ctx, token)
    state["user"] = user  # what request.state.user reads
    return user


# What routes declare: the service context, and the signed-in caller (401 otherwise).
Ctx = Annotated[Context, Depends(context)]
CurrentUser = Annotated[User, Depends(current_user)]


async def optional_user(request: Request) -> User | None:
    try:
        return await current_user(request)
    except Unauthenticated:
        return None
