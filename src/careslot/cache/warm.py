"""Cache warming at start: departments, doctors, and today's and tomorrow's slots per doctor,
so the first visitors after a deploy are answered from memory."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import asyncpg

from careslot import clock, jsonutil
from careslot.cache import reads
from careslot.errors import CareslotError

if TYPE_CHECKING:
    from careslot.context import Context

log = logging.getLogger("careslot.cache.warm")


async def warm(ctx: Context) -> int:
    """Load the public read-mostly answers; return how many were warmed. Never raises."""
    warmed = 0
    try:
        await reads.departments(ctx)
        everyone = jsonutil.loads((await reads.doctors(ctx, department_id=None)).entry.body)
        warmed += 2
        for department_id in sorted({d["departmentId"] for d in everyone}):
            await reads.doctors(ctx, department_id=department_id)
            warmed += 1
        today = clock.today(ctx.zone, ctx.clock.now())
        for doctor in everyone:
            for day in (today, today + dt.timedelta(days=1)):
                await reads.slots(
                    ctx, doctor_id=doctor["id"], department_id=None, first=day, last=day
                )
                warmed += 1
    except (CareslotError, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.warning("cache warming stopped after %d answers: %s", warmed, exc)
    return warmed
