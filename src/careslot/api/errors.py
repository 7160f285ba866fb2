"""One handler turns every error into RFC 9457 problem+json with a stable code."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

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


def _error_list(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
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


async def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail))


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
    app.add_exception_handler(CareslotError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(asyncpg.DataError, _bad_data)
    for exc_type in UNAVAILABLE:  # connection lost, database down or overloaded: retry
        app.add_exception_handler(exc_type, _unavailable)
