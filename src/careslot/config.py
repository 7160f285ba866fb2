"""Settings from the environment, built on demand (never at import time)."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from careslot.serving import Server

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@lru_cache(maxsize=16)
def parse_offsets(value: str) -> tuple[timedelta, ...]:
    """'48h,2h' -> (48 h, 2 h); an empty string means no reminders. Remembered: every
    booking and reschedule asks for the settings' offsets."""
    offsets = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        found = re.fullmatch(r"(\d+)\s*([mhd])", part)
        if found is None:
            raise ValueError(f"reminder offset {part!r} is not like 48h, 90m or 2d")
        offsets.append(timedelta(**{_UNITS[found[2]]: int(found[1])}))
    return tuple(offsets)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARESLOT_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CARESLOT_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "CARESLOT_REDIS_URL")
    )
    # Beyond one machine (SPEC section 11, docs/deploy.md). DATABASE_DIRECT_URL: the primary
    # itself, for what a transaction pooler (PgBouncer) in DATABASE_URL cannot carry: LISTEN/
    # NOTIFY, the leaders' session advisory locks, migrations. Unset: DATABASE_URL is direct.
    database_direct_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_DIRECT_URL", "CARESLOT_DATABASE_DIRECT_URL"),
    )
    # A streaming replica for the reads that may lag (the NDJSON stream, hospital figures).
    database_replica_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_REPLICA_URL", "CARESLOT_DATABASE_REPLICA_URL"),
    )
    replica_max_lag_seconds: float = Field(default=5.0, gt=0)
    replica_probe_seconds: float = Field(default=1.0, gt=0)
    # asyncpg's prepared-statement cache per connection; 0 behind PgBouncer (< 1.21) in
    # transaction mode, where the next statement may land on another server connection.
    statement_cache_size: int = Field(default=100, ge=0)
    # Names this node in X-Careslot-Node (with CARESLOT_EXPOSE_WORKER) and in the leaders'
    # application_name; default: the host name.
    node_name: str = ""
    data_dir: Path = Path(".careslot")
    timezone: str = "UTC"

    # Booking rules
    min_notice_minutes: int = 60
    horizon_days: int = 90
    max_future_appointments: int = 10
    # A patient may not cancel or reschedule later than this before the start (0: off).
    change_notice_minutes: int = Field(default=0, ge=0)

    # Sessions
    session_absolute_hours: int = 12
    staff_idle_minutes: int = 30
    # How long a checked session is trusted from the cache (0: check PostgreSQL every time).
    session_cache_seconds: float = 30.0
    login_failure_limit: int = 10
    login_failure_window_minutes: int = 15
    # Per client address (0: off); see accounts/limits.py.
    login_failures_per_address: int = 100  # failed sign-ins per 15 minutes
    registrations_per_address: int = 20  # registrations per hour
    trusted_proxies: str = ""  # comma-separated addresses/CIDRs whose X-Forwarded-For counts
    password_hashing_concurrency: int = 1  # argon2 checks at once per worker
    # Background pruning of rows that no longer matter (db/pruning.py); 0: off.
    prune_seconds: float = 300.0
    idempotency_keep_hours: float = 24.0  # how long a repeated Idempotency-Key is honoured

    # Database pool: 2 cores serve best with few connections per worker (see README).
    pool_min: int = 2
    pool_max: int = 8
    pool_acquire_timeout: float = 5.0
    statement_timeout_ms: int = 10_000
    # The HTTP server under `careslot serve` (serving.py): uvicorn, or granian to compare.
    server: Server = Server.uvicorn

    # Cache and background work
    cache: str = "on"
    cache_l1_max_entries: int = 10_000
    # Redis on loopback or a LAN answers in well under a millisecond; anything slower than
    # this is treated as down, so a dead or hung Redis costs at most this once per cooldown.
    cache_redis_timeout_ms: float = 50
    cache_redis_cooldown_seconds: float = 1.5
    # Timeouts in a row before the breaker opens (a refused connection opens it at once).
    cache_redis_failures_to_open: int = 3
    # How long a write waits for the workers of other nodes to confirm their layer 1 is clean.
    cache_ack_timeout_ms: float = 250
    # The generation table this worker shares with its siblings (cache/generations.py). Set
    # by `careslot serve` for the workers it starts; unset, a worker is a node of its own.
    node_generations: str | None = None
    cache_warm: bool = True
    # How often each worker checks its invalidation channel, and tries to restore a lost one.
    cache_channel_check_seconds: float = 1.0
    # Tests only: every answer names the worker process that served it (X-Careslot-Worker),
    # so a test can show that each worker answered. Off in production (it says nothing useful).
    expose_worker: bool = False
    mv_refresh_seconds: float = 30.0
    metrics_token: str | None = None
    slow_ms: float = 100.0  # calls slower than this are logged as structured warnings
    max_body_bytes: int = 1024 * 1024
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19_456

    # Messages (section 9): reminders before the start, mail transport, the outbox sender.
    reminders: str = "48h,2h"
    smtp_url: str | None = None  # smtp://[user:pass@]host:port[?starttls=true]; none: held
    mail_from: str = "careslot <no-reply@careslot.localhost>"
    smtp_timeout_seconds: float = 10.0
    smtp_ca_file: str | None = None  # PEM bundle the mail server's certificate must chain to
    outbox_sender: bool = True  # off: this process writes messages but another sends them
    outbox_poll_seconds: float = 0.5  # a wake after each change comes sooner; this finds reminders
    outbox_retry_seconds: float = 30.0  # first back-off; doubles per attempt up to an hour
    outbox_give_up_hours: float = 24.0  # a message still failing after this is failed
    webhook_timeout_seconds: float = 10.0
    webhook_allow_private: bool = False
    # Where the links in a message point (the accept and decline links of an offer).
    public_url: str = "http://127.0.0.1:8000"

    # The waitlist (section 10): "off" offers nothing and skips its step in booking.
    waitlist: str = "on"
    offer_minutes: int = Field(default=15, ge=1, le=24 * 60)  # how long an offer holds a slot
    # The sweeper wakes on a freed slot's NOTIFY; this is how often it looks for expired holds.
    waitlist_poll_seconds: float = 1.0
    waitlist_sweeper: bool = True  # off: this process frees slots but another offers them

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown IANA name
        return value

    @field_validator("smtp_url")
    @classmethod
    def _known_smtp_url(cls, value: str | None) -> str | None:
        from careslot.messages.transport import parse_smtp_url

        if value:
            parse_smtp_url(value)  # refused at start, not at the first mail
        return value or None

    @field_validator("reminders")
    @classmethod
    def _known_reminders(cls, value: str) -> str:
        parse_offsets(value)
        return value

    @property
    def reminder_offsets(self) -> tuple[timedelta, ...]:
        return parse_offsets(self.reminders)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def behind_pooler(self) -> bool:
        """DATABASE_URL goes through a transaction pooler (a direct URL is set beside it)."""
        return bool(self.database_direct_url)

    @property
    def node(self) -> str:
        return self.node_name or socket.gethostname()

    @property
    def waitlist_enabled(self) -> bool:
        return self.waitlist.lower() not in {"off", "0", "false", "no"}

    @property
    def cache_enabled(self) -> bool:
        return self.cache.lower() not in {"off", "0", "false", "no"}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
