"""Request bodies and query types (camelCase on the wire)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from annotated_types import Ge, Le
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


_NUMBER = re.compile(r"\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*")


def iso_only(value: object) -> object:
    # Lax mode reads a number (or "0.5") as a Unix time; the contract says ISO 8601.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date-time")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Instant = Annotated[AwareDatetime, BeforeValidator(iso_only)]

# The bounds before the validator: after it, pydantic's schema shows them as unknown "ge"/"le"
# keywords instead of minimum/maximum (the validator still runs first).
Id = Annotated[int, Ge(1), Le(MAX_ID), BeforeValidator(_not_bool)]


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
    start: Instant
    reason: Annotated[Text, Field(max_length=1000)] = ""
    client_id: Id | None = None
    type_id: Id | None = None


class AppointmentPatch(Body):
    status: Annotated[Text, Field(max_length=32)] | None = None
    start: Instant | None = None


# A timing in milliseconds; a boolean is not one (lax mode would read false as 0).
Millis = Annotated[float, Ge(0), Le(600_000), BeforeValidator(_not_bool)]


class PageLoadIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    route: Annotated[Text, Field(max_length=200)]
    fcp: Millis | None = None
    lcp: Millis | None = None
    tti: Millis | None = None
    inp: Millis | None = None


class WaitlistIn(Body):
    """POST /api/waitlist: one doctor or a department, days inclusive (SPEC section 10)."""

    doctor_id: Id | None = None
    department_id: Id | None = None
    from_: Annotated[dt.date, Field(alias="from")]
    to: dt.date
    type_id: Id | None = None
    client_id: Id | None = None
