"""Bodies, headers and path parameters read by the route itself, for the busiest writes.

FastAPI's request handler reads a body, solves the dependencies and validates every
parameter on each request; for a booking that was about a fifth of careslot's CPU
(`scripts/measure_write_cost.py`). A write served by `routing.direct_writes` keeps its
FastAPI declaration (the OpenAPI document is built from it, and the endpoint is the one that
runs), and a small reader in front parses the request as FastAPI's handler would:

- a body is JSON only under a JSON content type; one that does not parse is refused first
  (before the caller is known), as FastAPI refuses it while reading the body (a 422 for
  JSON that is not, a 400 for bytes that are not even text);
- then the caller (401), then every parameter and field error together, in one 422.

`tests/api/test_direct_writes.py` sends the same good and bad requests to a route served
both ways and compares the answers.
"""

from __future__ import annotations

import email.message
import functools
import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from careslot.accounts.models import User
from careslot.api.deps import current_user

B = TypeVar("B", bound=BaseModel)
Errors = list[dict[str, Any]]


class _Missing:
    """No body was sent (FastAPI's Undefined)."""


MISSING = _Missing()


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """FastAPI's test, remembered per content type: parsing the header with email.message is
    1.6 µs of every write, and clients send the same one or two."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def json_of(request: Request) -> Any:
    """The body as FastAPI reads it: parsed JSON, the raw bytes under another content type
    (which no model accepts), or MISSING; a JSON body that does not parse is a 422 now."""
    raw = await request.body()
    if not raw:
        return MISSING
    content_type = request.headers.get("content-type")
    if content_type is None or not _is_json(content_type):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from None
    except ValueError:  # not UTF-8, say: FastAPI's answer to any other failure to read it
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from None


async def request_of(request: Request) -> tuple[Any, User, Errors]:
    """The body, then the caller, in FastAPI's order, and an empty list for the errors."""
    body = await json_of(request)
    return body, await current_user(request), []


def header(request: Request, name: str, *, max_length: int, errors: Errors) -> str | None:
    """An optional header, at most `max_length` characters (else an error is added)."""
    value = request.headers.get(name)
    if value is not None and len(value) > max_length:
        errors.append(
            {
                "type": "string_too_long",
                "loc": ("header", name),
                "msg": f"String should have at most {max_length} characters",
                "input": value,
                "ctx": {"max_length": max_length},
            }
        )
    return value


def path_id(request: Request, name: str, *, le: int, errors: Errors) -> int:
    """An integer path parameter (the route's `:int` converter parsed it), from 1 to `le`."""
    value: int = request.path_params[name]
    if value < 1:
        errors.append(_bound(name, value, "greater_than_equal", "ge", 1, "greater than or equal"))
    elif value > le:
        errors.append(_bound(name, value, "less_than_equal", "le", le, "less than or equal"))
    return value


def _bound(name: str, value: int, kind: str, key: str, limit: int, words: str) -> dict[str, Any]:
    return {
        "type": kind,
        "loc": ("path", name),
        "msg": f"Input should be {words} to {limit}",
        "input": value,
        "ctx": {key: limit},
    }


def validated(model: type[B], body: Any, errors: Errors) -> B:
    """The body as `model`, or one 422 with the parameters' errors and the body's."""
    found = list(errors)
    if isinstance(body, _Missing):
        found.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    else:
        try:
            parsed = model.model_validate(body, from_attributes=True)  # as FastAPI validates
        except ValidationError as exc:
            found += [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        else:
            if not found:
                return parsed
    raise RequestValidationError(found)
