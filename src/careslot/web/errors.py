"""Plain-words error pages for browsers; the API keeps its problem+json answers.

The handlers wrap the API's: a request for a page (not /api, not /metrics) that fails gets
an HTML page that says what happened and what to do; everything else is passed through.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from careslot.api.deps import optional_user
from careslot.errors import CareslotError, Unauthenticated
from careslot.web.render import SENSITIVE, ElsewhereHome, go_home, page, to_login

Handler = Callable[[Request, Any], Response | Awaitable[Response]]
NOT_PAGES = (
    "/api/",
    "/metrics",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/static/",
    "/sw.js",
)
WORDS = {
    400: ("Something in the request was not right", "Please go back and try again."),
    403: (
        "This page is not for your account",
        "You are signed in, but this page belongs to someone else's role.",
    ),
    404: (
        "We could not find that page",
        "The address may be mistyped, or what it pointed to no longer exists.",
    ),
    405: ("That action is not possible here", "Please go back and use the buttons on the page."),
    409: ("That could not be done", "Someone may have changed it a moment ago."),
    422: (
        "Something in the address was not right",
        "A value in the link could not be read. Please go back and choose again.",
    ),
    429: ("Too many attempts", "Please wait a few minutes, then try again."),
    503: (
        "We are having trouble right now",
        "Our systems are busy or restarting. Please try again in a minute.",
    ),
}


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    return await result if inspect.isawaitable(result) else result


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


async def error_page(request: Request, status: int, detail: str | None) -> Response:
    title, advice = WORDS.get(status, WORDS[400] if status < 500 else WORDS[503])
    # When the server itself is in trouble, do not ask the database who is calling.
    user = await optional_user(request) if status < 500 else None
    return page(
        request,
        "error.html",
        user=user,
        title=title,
        status=status,
        advice=advice,
        detail=detail,
        cache_control=SENSITIVE,
    )


def install(app: FastAPI) -> None:
    api_domain: Handler = app.exception_handlers[CareslotError]
    api_http: Handler = app.exception_handlers[HTTPException]
    api_validation: Handler = app.exception_handlers[RequestValidationError]

    async def domain(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            return await _call(api_domain, request, exc)
        if isinstance(exc, Unauthenticated):
            return to_login(request)
        assert isinstance(exc, CareslotError)
        return await error_page(request, exc.status, exc.detail)

    async def http(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            return await _call(api_http, request, exc)
        assert isinstance(exc, HTTPException)
        return await error_page(request, exc.status_code, None)

    async def validation(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            return await _call(api_validation, request, exc)
        return await error_page(request, 422, None)

    def outage(api_handler: Handler) -> Handler:
        async def handler(request: Request, exc: Exception) -> Response:
            answer = await _call(api_handler, request, exc)
            if not is_page(request):
                return answer
            shown = await error_page(request, answer.status_code, None)
            if "retry-after" in answer.headers:
                shown.headers["Retry-After"] = answer.headers["retry-after"]
            return shown

        return handler

    ours = {CareslotError, HTTPException, RequestValidationError}
    for exc_type, api_handler in list(app.exception_handlers.items()):
        if exc_type not in ours and not isinstance(exc_type, int):
            app.add_exception_handler(exc_type, outage(api_handler))  # database down, …
    app.add_exception_handler(CareslotError, domain)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(ElsewhereHome, go_home)  # a redirect, not an outage: unwrapped
