"""JSON as ready-to-send bytes."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


loads = orjson.loads
