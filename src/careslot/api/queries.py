"""Query strings read by the route itself, as one pydantic model validated in one call.

FastAPI's per-parameter handling (and solving any dependency at all) costs a cached answer
a fifth of its time or more on the hot read routes (py-spy, in-process, bench machine), so
those routes take only the request, read their query with `query_of`, and declare it to
OpenAPI with `query_parameters` (api/problems.py infers their 422 and 404 from that).
"""

from __future__ import annotations

import functools
from typing import TypeVar, cast

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import QueryParams

from careslot.api.problems import OpenAPI


class QueryModel(BaseModel):
    """A query model: frozen, since one parsed query serves every request that sends it."""

    model_config = ConfigDict(frozen=True)


M = TypeVar("M", bound=QueryModel)
PARSED_QUERIES = 4096  # distinct query strings kept parsed, per model and process


def query_of(model: type[M], request: Request) -> M:
    """`model` from the query string in one pydantic call, once per distinct query string:
    the hot reads' queries repeat (one doctor and day, one patient), and parsing and
    validating them again was a fifth of a cached slot list's CPU."""
    try:
        return cast(M, _parsed(model, request.scope["query_string"]))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


@functools.lru_cache(maxsize=PARSED_QUERIES)
def _parsed(model: type[QueryModel], raw: bytes) -> QueryModel:
    """A refused query raises, and lru_cache keeps no exception: it is checked every time."""
    return model.model_validate(dict(QueryParams(raw)))


def query_parameters(model: type[BaseModel]) -> OpenAPI:
    """The OpenAPI parameters of a query model (declared by hand since the route reads the
    query itself)."""
    schema = model.model_json_schema(by_alias=True)
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": field}
            for name, field in schema["properties"].items()
        ]
    }
