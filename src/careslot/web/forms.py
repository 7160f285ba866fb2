"""Plain HTML form posts (application/x-www-form-urlencoded), read without extra packages,
and the values they carry turned into what the services take."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import Request

from careslot.errors import InvalidPeriod, ValidationFailed
from careslot.scheduling.slots import to_instant

MAX_FIELDS = 200


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields (the last value of each); the body is already size-limited."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ValidationFailed("send the form as application/x-www-form-urlencoded")
    try:
        text = (await request.body()).decode("utf-8")
        parsed = parse_qs(
            text, keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed("the form could not be read") from exc
    fields = {name: values[-1] for name, values in parsed.items()}
    if any("\x00" in v for v in fields.values()):
        raise ValidationFailed("the form contains characters that are not allowed")
    return fields


def checkbox(fields: dict[str, str], name: str) -> bool:
    return name in fields


def number(fields: dict[str, str], name: str, label: str) -> int:
    raw = fields.get(name, "").strip()
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed(f"{label} must be a whole number")
    return int(raw)


def wall_time(value: str) -> dt.time:
    """HH:MM as a time input sends it (seconds, if any, are dropped)."""
    try:
        parsed = dt.time.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"{value!r} is not a time like 09:30") from exc
    return parsed.replace(second=0, microsecond=0)


def local_instant(value: str, zone: ZoneInfo, label: str) -> dt.datetime:
    """A datetime-local input (the hospital's wall clock) as an instant. A wall time that a
    daylight-saving change skips is refused rather than guessed."""
    try:
        naive = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidPeriod(f"give the {label} as a date and a time") from exc
    if not 2000 <= naive.year < 2100:
        raise InvalidPeriod(f"the {label} must lie between the years 2000 and 2100")
    if naive.tzinfo is not None:
        return naive
    instant = to_instant(naive.date(), naive.time(), zone)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        raise InvalidPeriod(f"the {label} {value} does not exist here (the clocks skip it)")
    return instant
