"""What a service call needs: settings, the pool, the clock, the audit log, the change bus,
the cache and the password hasher. Every service is called as `f(ctx, *, actor, ...)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

import asyncpg

from careslot.accounts.passwords import Passwords
from careslot.audit.log import AuditLog
from careslot.cache.core import Cache
from careslot.clock import Clock, SystemClock
from careslot.config import Settings
from careslot.db.replica import LaggingReads
from careslot.events import ChangeBus
from careslot.scheduling.catalog import BookingCatalog


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool
    audit: AuditLog
    clock: Clock = field(default_factory=SystemClock)
    changes: ChangeBus = field(default_factory=ChangeBus)
    cache: Cache = field(default_factory=Cache.disabled)
    reads: LaggingReads | None = None  # the replica router; None: everything on the primary
    # The schedules bookings are checked against before the database confirms them.
    catalog: BookingCatalog = field(default_factory=BookingCatalog)

    @cached_property
    def lagging_reads(self) -> LaggingReads:
        """Where reads that may lag go (db/replica.py): the replica when set and well."""
        return self.reads or LaggingReads(self.pool)

    @cached_property
    def zone(self) -> ZoneInfo:
        """The hospital's time zone (CARESLOT_TIMEZONE), built once."""
        return self.settings.zone

    @cached_property
    def passwords(self) -> Passwords:
        return Passwords.from_settings(self.settings)
