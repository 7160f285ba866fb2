"""Cache tuning from the environment (CARESLOT_CACHE_*); on/off is Settings.cache."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class CacheOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARESLOT_CACHE_", extra="ignore")

    l1_max_entries: int = 10_000
    # Redis on loopback or a LAN answers in well under a millisecond; anything slower than
    # this is treated as down, so a dead or hung Redis costs at most this once per cooldown.
    redis_timeout_ms: float = 50
    redis_cooldown_seconds: float = 1.5
    # How long a write waits for the other workers to confirm their layer 1 is clean.
    ack_timeout_ms: float = 250
    warm: bool = True
