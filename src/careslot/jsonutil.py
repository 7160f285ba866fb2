"""JSON as ready-to-send bytes. Typed shapes go out by their wire names (camelCase), with
timestamps as orjson writes them (ISO 8601 with offset), so a model and the dict it replaced
serialise to the same bytes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True)
    if isinstance(value, UUID):  # asyncpg's own UUID subclass, which orjson does not take
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


loads = orjson.loads
