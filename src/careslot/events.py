"""After-commit change notices: the one place writes announce what they touched.

The cache layer subscribes here to invalidate exactly the keys a write affects.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

log = logging.getLogger("careslot.events")


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # booked, cancelled, rescheduled, status, schedule, time_off, departments
    client_ids: tuple[int, ...] = ()
    doctor_ids: tuple[int, ...] = ()
    appointment_id: int | None = None
    # The hospital's local days whose free slots the change may alter; empty means unknown,
    # so every day's.
    days: tuple[date, ...] = ()
    # The doctors' departments, when the writer has them at hand; empty means look them up.
    department_ids: tuple[int, ...] = ()
    # Appointment types whose definition changed (kind "appointment_types").
    type_ids: tuple[int, ...] = ()


Listener = Callable[[Change], Awaitable[None]]


@dataclass
class ChangeBus:
    listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    async def publish(self, change: Change) -> None:
        for listener in self.listeners:
            try:
                await listener(change)
            except Exception:  # a cache must never fail a committed write
                log.exception("change listener failed for %s", change)
