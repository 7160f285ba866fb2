"""The problem answers in the OpenAPI document (issue 13, item 6), defined once.

`problems(*statuses)` is a `responses=` mapping for a router or a route. `document(app)`
also adds to every operation the problems it can answer by its shape, so no route module has
to restate them: 503 (the database; every route but /healthz), 422 and 400 (it has
parameters or a body), 413 (a body), 401 and 403 (it reads the caller: a bad token, a role,
the origin check; a failed sign-in), 404 (an id in its path or query, a token, a write),
409 (a write by a signed-in caller, or a registration). FastAPI's own 422 entry is
replaced, since careslot answers problem+json.

Our fragments are FastAPI's own OpenAPI models; they become JSON mappings (`OpenAPI`) only
where FastAPI's parameters take them so.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.models import MediaType, Reference, Schema
from fastapi.openapi.models import Response as ResponseSpec
from fastapi.routing import APIRoute
from pydantic import BaseModel

PROBLEM_JSON = "application/problem+json"
_STRING, _INTEGER = Schema(type="string"), Schema(type="integer")
PROBLEM_SCHEMA = Schema(
    title="Problem",
    description="RFC 9457 problem details, with careslot's stable `code`.",
    type="object",
    required=["type", "title", "status", "detail", "code"],
    properties={
        "type": _STRING,
        "title": _STRING,
        "status": _INTEGER,
        "detail": _STRING,
        "code": _STRING,
        "errors": Schema(type="array", items=Schema(type="object")),
        "retryAfter": _INTEGER,
    },
    additionalProperties=True,
)
_PROBLEM_CONTENT = {
    PROBLEM_JSON: MediaType(
        schema=Reference.model_validate({"$ref": "#/components/schemas/Problem"})
    )
}
# What FastAPI takes and gives for a piece of the OpenAPI document (`responses=`,
# `openapi_extra=`, `app.openapi()`): JSON as a dict.
OpenAPI = dict[str, Any]
DESCRIPTIONS = {
    400: "Malformed request (`malformed_request`: the body is not JSON)",
    401: "Not signed in, or the session ended (`unauthenticated`)",
    403: "Not allowed for this caller, or a cross-origin write (`forbidden`)",
    404: "No such resource, or not the caller's (`not_found`)",
    409: "Conflicts with the current state (`slot_taken`, `invalid_transition`, …)",
    413: "Request body too large (`payload_too_large`)",
    422: "The request is not valid (`validation_error`, `invalid_slot`, …)",
    429: "Too many attempts (`rate_limited`); see Retry-After",
    503: "The database is unavailable or overloaded (`unavailable`); see Retry-After",
}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _json(spec: BaseModel) -> OpenAPI:
    return spec.model_dump(by_alias=True, exclude_none=True)


def problems(*statuses: int) -> dict[int | str, OpenAPI]:
    """A `responses=` mapping documenting these statuses as problem+json."""
    return {
        status: _json(ResponseSpec(description=DESCRIPTIONS[status], content=_PROBLEM_CONTENT))
        for status in statuses
    }


def _calls(dependant: Dependant) -> set[str]:
    names = {getattr(dependant.call, "__name__", "")}
    for sub in dependant.dependencies:
        names |= _calls(sub)
    return names


def _params(dependant: Dependant) -> bool:
    if dependant.query_params or dependant.path_params or dependant.header_params:
        return True
    return any(_params(sub) for sub in dependant.dependencies)


def _query(dependant: Dependant) -> list[Any]:
    found = list(dependant.query_params)
    for sub in dependant.dependencies:
        found += _query(sub)
    return found


def _names_a_thing(name: str) -> bool:
    return name.endswith(("Id", "_id")) or name == "token"


def statuses_of(route: APIRoute, method: str) -> set[int]:
    """The problems this operation can answer, from its shape (see the module docstring)."""
    found = set() if route.path.endswith("/healthz") else {503}
    dependant = route.dependant
    calls = _calls(dependant)
    body = dependant.body_params
    if body:
        found |= {400, 413, 422}
    # Parameters a route reads itself (api/catalog.py's query models) are declared by hand.
    declared = [p["name"] for p in (route.openapi_extra or {}).get("parameters", ())]
    if _params(dependant) or declared:
        found.add(422)
    if calls & {"current_user", "optional_user"}:
        found |= {401, 403}
    if "same_origin" in calls:
        found.add(403)
    if (
        dependant.path_params
        or any(_names_a_thing(p.alias) for p in _query(dependant))
        or any(_names_a_thing(name) for name in declared)
    ):
        found.add(404)
    if method in _UNSAFE and (calls & {"current_user"} or route.path.endswith("/register")):
        found |= {404, 409}  # a write names things (a doctor, a patient) that may not exist
    if route.path.endswith("/login"):
        found.add(401)  # wrong email or password
    return found


def document(app: FastAPI) -> None:
    """Add every operation's problem answers to app.openapi() (computed once)."""
    build = app.openapi

    def openapi() -> OpenAPI:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for context in routing.iter_route_contexts(app.routes):  # routes of included routers too
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in context.methods or ():
                operation = schema["paths"].get(context.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for status, answer in problems(*statuses_of(route, method)).items():
                    responses[str(status)] = answer  # FastAPI's 422 is not what we send
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = _json(PROBLEM_SCHEMA)
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
