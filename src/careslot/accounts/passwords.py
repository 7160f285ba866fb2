"""argon2id hashing with the parameters from settings, run off the event loop (it is
deliberately slow)."""

from __future__ import annotations

import asyncio
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from careslot.config import Settings


class Passwords:
    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        return cls(
            PasswordHasher(
                time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
            )
        )

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)

    @cached_property
    def dummy_hash(self) -> str:
        """A valid hash to verify against when the email is unknown, so timing does not
        reveal whether an account exists."""
        return self.hash("not-a-real-password")
