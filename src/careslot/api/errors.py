"""One handler turns every error into RFC 9457 problem+json with a stable code."""

from __future__ import annotations

import logging
from typing import TypedDict

import asyncpg
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from careslot.api import problems
from careslot.api.responses import problem, problem_for
from careslot.db.failures import UNAVAILABLE
from careslot.errors import (
    CareslotError,
    MalformedRequest,
    ServiceUnavailable,
    ValidationFailed,
)

log = logging.getLogger("careslot.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class FieldError(TypedDict):
    """One entry of a 422's `errors`: where in the request, and what is wrong there."""

    loc: list[str]
    msg: str


def _error_list(exc: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(loc=[str(p) for p in e.get("loc", ())], msg=str(e.get("msg", "")))
        for e in exc.errors()
    ]


async def _domain(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, CareslotError)
    response = problem_for(exc)
    retry_after = exc.extra.get("retryAfter")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem_for(MalformedRequest("the body could not be parsed as JSON"))
    return problem_for(
        ValidationFailed("some fields are missing or have the wrong type", errors=_error_list(exc))
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = problem(exc.status_code, code, str(exc.detail), str(exc.detail))
    if exc.headers:  # e.g. Allow on a 405, which RFC 9110 requires
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed(request)
    return response


def _allowed(request: Request) -> str:
    """Every method of every route on this path (Starlette's 405 names only the first
    route's, so a path served by separate GET and POST routes answered `Allow: POST`)."""
    methods: set[str] = set()
    for context in routing.iter_route_contexts(request.app.routes):
        if not context.path or not context.methods:
            continue
        regex, _, _ = compile_path(context.path)  # with the router's prefix
        if regex.match(request.url.path):
            methods |= context.methods
    return ", ".join(sorted(methods))


async def _bad_data(_: Request, exc: Exception) -> Response:
    # Values PostgreSQL refuses (a NUL byte, a number out of range) are the caller's error.
    return problem_for(ValidationFailed("a value was not acceptable to the database"))


async def _unavailable(_: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %r", exc)
    response = problem_for(
        ServiceUnavailable("the database is not reachable right now; try again shortly")
    )
    response.headers["Retry-After"] = "1"
    return response


def install(app: FastAPI) -> None:
    problems.document(app)  # the answers below, in the OpenAPI document
    app.add_exception_handler(CareslotError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(asyncpg.DataError, _bad_data)
    for exc_type in UNAVAILABLE:  # connection lost, database down or overloaded: retry
        app.add_exception_handler(exc_type, _unavailable)
