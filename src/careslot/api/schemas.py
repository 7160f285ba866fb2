"""Request bodies and query types (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_ID = 2**63 - 1


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_bool(value: object) -> object:
    # Lax mode reads true as 1: a boolean is never an id.
    if isinstance(value, bool):
        raise ValueError("must be an integer id")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Id = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=False
    )


class RegisterIn(Body):
    email: Annotated[Text, Field(min_length=3, max_length=320)]
    password: Annotated[Text, Field(min_length=8, max_length=256)]
    name: Annotated[Text, Field(min_length=1, max_length=200)]


class LoginIn(Body):
    email: Annotated[Text, Field(min_length=1, max_length=320)]
    password: Annotated[Text, Field(min_length=1, max_length=256)]


class BookIn(Body):
    doctor_id: Id
    start: AwareDatetime
    reason: Annotated[Text, Field(max_length=1000)] = ""
    client_id: Id | None = None
    type_id: Id | None = None


class AppointmentPatch(Body):
    status: Annotated[Text, Field(max_length=32)] | None = None
    start: AwareDatetime | None = None


class PageLoadIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    route: Annotated[Text, Field(max_length=200)]
    fcp: Annotated[float, Field(ge=0, le=600_000)] | None = None
    lcp: Annotated[float, Field(ge=0, le=600_000)] | None = None
    tti: Annotated[float, Field(ge=0, le=600_000)] | None = None
    inp: Annotated[float, Field(ge=0, le=600_000)] | None = None
