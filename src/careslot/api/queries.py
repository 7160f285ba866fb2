"""Query strings read by the route itself, as one pydantic model validated in one call.

FastAPI's per-parameter handling (and solving any dependency at all) costs a cached answer
a fifth of its time or more on the hot read routes (py-spy, in-process, bench machine), so
those routes take only the request, read their query with `query_of`, and declare it to
OpenAPI with `query_parameters` (api/problems.py infers their 422 and 404 from that).
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def query_of(model: type[M], request: Request) -> M:
    """`model` from the query string in one pydantic call; FastAPI's per-parameter
    declarations cost a cached slot list about a fifth of its time (py-spy)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI parameters of a query model (declared by hand since the route reads the
    query itself)."""
    schema = model.model_json_schema(by_alias=True)
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": field}
            for name, field in schema["properties"].items()
        ]
    }
