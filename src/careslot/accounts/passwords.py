"""argon2id hashing with the parameters from settings, run off the event loop (it is
deliberately slow)."""

from __future__ import annotations

import asyncio
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from careslot.config import Settings


class Passwords:
    """At most `concurrency` hashes run at once per worker (CARESLOT_PASSWORD_HASHING_
    CONCURRENCY, default 1): the others wait their turn, so a flood of sign-ins takes one
    core at most and never starves the requests that need no hash."""

    def __init__(self, hasher: PasswordHasher, concurrency: int = 1) -> None:
        self.hasher = hasher
        self.concurrency = max(1, concurrency)
        self._slots: asyncio.Semaphore | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        return cls(
            PasswordHasher(
                time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
            ),
            settings.password_hashing_concurrency,
        )

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def hash_async(self, password: str) -> str:
        async with self.slots:
            return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str, password: str) -> bool:
        async with self.slots:
            return await asyncio.to_thread(self.verify, password_hash, password)

    @cached_property
    def dummy_hash(self) -> str:
        """A valid hash to verify against when the email is unknown, so timing does not
        reveal whether an account exists."""
        return self.hash("not-a-real-password")
