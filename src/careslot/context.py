"""What a service call needs: settings, the pool, the audit log, the change bus, the cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from careslot.audit.log import AuditLog
from careslot.cache.core import Cache
from careslot.config import Settings
from careslot.events import ChangeBus


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool
    audit: AuditLog
    changes: ChangeBus = field(default_factory=ChangeBus)
    cache: Cache = field(default_factory=Cache.disabled)
