"""What a service call needs: settings, the pool, the audit log and the change bus."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from careslot.audit.log import AuditLog
from careslot.config import Settings
from careslot.events import ChangeBus


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool
    audit: AuditLog
    changes: ChangeBus = field(default_factory=ChangeBus)
