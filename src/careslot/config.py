"""Settings from the environment, built on demand (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARESLOT_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CARESLOT_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "CARESLOT_REDIS_URL")
    )
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

    # Database pool: 2 cores serve best with few connections per worker (see README).
    pool_min: int = 2
    pool_max: int = 8
    pool_acquire_timeout: float = 5.0
    statement_timeout_ms: int = 10_000

    # Cache and background work
    cache: str = "on"
    cache_l1_max_entries: int = 10_000
    # Redis on loopback or a LAN answers in well under a millisecond; anything slower than
    # this is treated as down, so a dead or hung Redis costs at most this once per cooldown.
    cache_redis_timeout_ms: float = 50
    cache_redis_cooldown_seconds: float = 1.5
    # How long a write waits for the other workers to confirm their layer 1 is clean.
    cache_ack_timeout_ms: float = 250
    cache_warm: bool = True
    mv_refresh_seconds: float = 30.0
    metrics_token: str | None = None
    slow_ms: float = 100.0  # calls slower than this are logged as structured warnings
    max_body_bytes: int = 1024 * 1024
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19_456

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown IANA name
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def cache_enabled(self) -> bool:
        return self.cache.lower() not in {"off", "0", "false", "no"}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
