"""Register, sign in, sign out, and who am I."""

from __future__ import annotations

from fastapi import Depends, Request, Response

from careslot.accounts import service as accounts
from careslot.accounts import sessions
from careslot.accounts.models import SignedIn, User
from careslot.api import responses
from careslot.api.deps import (
    SESSION_COOKIE,
    Ctx,
    CurrentUser,
    client_address,
    same_origin,
    session_token,
)
from careslot.api.problems import problems
from careslot.api.routing import api_router
from careslot.api.schemas import LoginIn, RegisterIn
from careslot.context import Context
from careslot.messages import service as messages
from careslot.messages.schemas import Profile

router = api_router("auth")


def _signed_in(request: Request, ctx: Context, user: User, token: str, status: int) -> Response:
    body = SignedIn(user=user.public(), token=token)
    response = responses.json(body, status, responses.SENSITIVE)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ctx.settings.session_absolute_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


# Both set the session cookie: a cross-site page must not sign anyone in (or up).
@router.post(
    "/auth/register",
    status_code=201,
    response_model=SignedIn,
    dependencies=[Depends(same_origin)],
    responses=problems(429),  # per-address registration limit
)
async def register(body: RegisterIn, request: Request, ctx: Ctx) -> Response:
    user, token = await accounts.register(
        ctx,
        email=body.email,
        password=body.password,
        name=body.name,
        address=client_address(request, ctx),
    )
    return _signed_in(request, ctx, user, token, 201)


@router.post(
    "/auth/login",
    response_model=SignedIn,
    dependencies=[Depends(same_origin)],
    responses=problems(429),  # per-email and per-address sign-in limits
)
async def login(body: LoginIn, request: Request, ctx: Ctx) -> Response:
    user, token = await accounts.login(
        ctx, email=body.email, password=body.password, address=client_address(request, ctx)
    )
    return _signed_in(request, ctx, user, token, 200)


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    token, _ = session_token(request)
    assert token is not None
    await sessions.logout(ctx, token)
    response = Response(
        status_code=204,
        headers={
            "Clear-Site-Data": '"cache", "storage"',
            "Cache-Control": "no-store",
        },
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/users/profile", response_model=Profile)
async def profile(ctx: Ctx, user: CurrentUser) -> Response:
    found = await messages.profile(ctx, actor=user)
    return responses.json(found, headers=responses.PRIVATE)
