"""The base of every typed shape that crosses a module boundary or the wire.

Fields are snake_case in Python and camelCase on the wire (the alias). Answers are frozen:
a service returns them, the cache stores their bytes, and nothing edits them on the way.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, frozen=True)
