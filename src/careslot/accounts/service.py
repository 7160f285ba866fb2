"""Accounts and sessions: register, sign in (throttled), sign out, who is calling."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from careslot import clock
from careslot.accounts import repository as repo
from careslot.accounts.models import ROLES, User
from careslot.accounts.passwords import dummy_hash, hash_password_async, verify_password_async
from careslot.config import Settings
from careslot.errors import EmailTaken, RateLimited, Unauthenticated, ValidationFailed

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    expires_at: datetime


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _user(row: asyncpg.Record) -> User:
    return User(row["id"], row["email"], row["name"], row["role"], row["doctor_id"])


def _check_credentials(email: str, password: str) -> None:
    if not EMAIL_RE.match(email):
        raise ValidationFailed("email is not a valid address")
    if not 8 <= len(password) <= 256:
        raise ValidationFailed("password must be 8 to 256 characters")


async def create_user(
    pool: asyncpg.Pool, *, email: str, password: str, name: str, role: str = "patient"
) -> User:
    _check_credentials(email, password)
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise ValidationFailed("name is required")
    password_hash = await hash_password_async(password)
    async with pool.acquire() as conn:
        try:
            row = await repo.insert_user(
                conn,
                email=email.strip(),
                password_hash=password_hash,
                name=name.strip(),
                role=role,
            )
        except asyncpg.UniqueViolationError as exc:
            raise EmailTaken("an account with that email exists") from exc
    return _user(row)


async def _new_session(pool: asyncpg.Pool, settings: Settings, user: User) -> str:
    token = secrets.token_urlsafe(32)
    async with pool.acquire() as conn:
        await repo.insert_session(
            conn,
            token_hash=token_hash(token),
            user_id=user.id,
            expires_at=clock.utcnow() + timedelta(hours=settings.session_absolute_hours),
        )
    return token


async def register(
    pool: asyncpg.Pool, settings: Settings, *, email: str, password: str, name: str
) -> tuple[User, str]:
    user = await create_user(pool, email=email, password=password, name=name, role="patient")
    return user, await _new_session(pool, settings, user)


async def login(
    pool: asyncpg.Pool, settings: Settings, *, email: str, password: str
) -> tuple[User, str]:
    email = email.strip()
    since = clock.utcnow() - timedelta(minutes=settings.login_failure_window_minutes)
    async with pool.acquire() as conn:
        attempt = await repo.claim_login_attempt(
            conn, email=email, since=since, limit=settings.login_failure_limit
        )
        if attempt is None:
            raise RateLimited("too many failed sign-ins for this email; wait 15 minutes")
        row = await repo.user_for_login(conn, email)
    ok = await verify_password_async(row["password_hash"] if row else dummy_hash(), password)
    if row is None or not ok:
        raise Unauthenticated("wrong email or password")  # the attempt stays a failure
    async with pool.acquire() as conn:
        await repo.forget_login_attempt(conn, attempt)
    user = _user(row)
    return user, await _new_session(pool, settings, user)


async def logout(pool: asyncpg.Pool, token: str) -> None:
    async with pool.acquire() as conn:
        await repo.revoke_session(conn, token_hash(token))


async def authenticate(pool: asyncpg.Pool, settings: Settings, token: str) -> Session:
    """The live session behind `token`, or Unauthenticated."""
    digest = token_hash(token)
    async with pool.acquire() as conn:
        row = await repo.session_user(conn, digest)
        if row is None:
            raise Unauthenticated("session expired or signed out")
        now = clock.utcnow()
        idle = now - row["last_seen_at"]
        if row["role"] != "patient" and idle > timedelta(minutes=settings.staff_idle_minutes):
            await repo.revoke_session(conn, digest)
            raise Unauthenticated("session timed out after inactivity")
        if idle > TOUCH_EVERY:
            await repo.touch_session(conn, digest)
    return Session(_user(row), row["expires_at"])


async def get_user(pool: asyncpg.Pool, user_id: int) -> User | None:
    async with pool.acquire() as conn:
        row = await repo.user_by_id(conn, user_id)
    return _user(row) if row else None


async def search_patients(pool: asyncpg.Pool, *, query: str, limit: int = 20) -> list[User]:
    """Patients whose name or email contains `query` (the front desk's "find a patient")."""
    query = query.strip()
    if not 2 <= len(query) <= 100:
        raise ValidationFailed("search for 2 to 100 characters of a name or email")
    async with pool.acquire() as conn:
        rows = await repo.search_patients(conn, query, limit)
    return [User(r["id"], r["email"], r["name"], "patient") for r in rows]
