"""Accounts and sessions: register, sign in (throttled), sign out, who is calling."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from careslot.context import Context

from careslot.accounts import emails, limits
from careslot.accounts import repository as repo
from careslot.accounts.models import ROLES, User
from careslot.errors import (
    EmailTaken,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)

TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    expires_at: datetime


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _user(row: asyncpg.Record) -> User:
    return User(row["id"], row["email"], row["name"], row["role"], row["doctor_id"])


def _check_credentials(email: str, password: str) -> str:
    """The normalised email (accounts/emails.py), once email and password are acceptable."""
    normalised = emails.valid(email)
    if not 8 <= len(password) <= 256:
        raise ValidationFailed("password must be 8 to 256 characters")
    return normalised


async def create_user(
    ctx: Context, *, email: str, password: str, name: str, role: str = "patient"
) -> User:
    email = _check_credentials(email, password)
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise ValidationFailed("name is required")
    password_hash = await ctx.passwords.hash_async(password)
    async with ctx.pool.acquire() as conn:
        try:
            row = await repo.insert_user(
                conn,
                email=email,
                password_hash=password_hash,
                name=name.strip(),
                role=role,
            )
        except asyncpg.UniqueViolationError as exc:
            raise EmailTaken("an account with that email exists") from exc
    return _user(row)


async def _new_session(ctx: Context, user: User) -> str:
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn:
        await repo.insert_session(
            conn,
            token_hash=token_hash(token),
            user_id=user.id,
            now=now,
            expires_at=now + timedelta(hours=ctx.settings.session_absolute_hours),
        )
    return token


async def register(
    ctx: Context, *, email: str, password: str, name: str, address: str | None = None
) -> tuple[User, str]:
    """A new patient and their session. `address` (the client's) is held to
    CARESLOT_REGISTRATIONS_PER_ADDRESS before any password is hashed."""
    email = _check_credentials(email, password)
    if address is not None:
        async with ctx.pool.acquire() as conn:
            await limits.claim(
                conn,
                kind=limits.REGISTER,
                address=address,
                limit=ctx.settings.registrations_per_address,
                now=ctx.clock.now(),
            )
    user = await create_user(ctx, email=email, password=password, name=name, role="patient")
    return user, await _new_session(ctx, user)


async def login(
    ctx: Context, *, email: str, password: str, address: str | None = None
) -> tuple[User, str]:
    """Sign in. Failures are throttled per email and, given the client's `address`, per
    address (CARESLOT_LOGIN_FAILURES_PER_ADDRESS), both counted before the password is."""
    email = emails.normalise(email)
    settings = ctx.settings
    now = ctx.clock.now()
    since = now - timedelta(minutes=settings.login_failure_window_minutes)
    async with ctx.pool.acquire() as conn:
        by_address = None
        if address is not None:
            by_address = await limits.claim(
                conn,
                kind=limits.LOGIN,
                address=address,
                limit=settings.login_failures_per_address,
                now=now,
            )
        attempt = await repo.claim_login_attempt(
            conn, email=email, now=now, since=since, limit=settings.login_failure_limit
        )
        if attempt is None:
            raise RateLimited(
                "too many failed sign-ins for this email; wait 15 minutes",
                retryAfter=settings.login_failure_window_minutes * 60,
            )
        row = await repo.user_for_login(conn, email)
    known_hash = row["password_hash"] if row else ctx.passwords.dummy_hash
    ok = await ctx.passwords.verify_async(known_hash, password)
    if row is None or not ok:
        raise Unauthenticated("wrong email or password")  # the attempt stays a failure
    async with ctx.pool.acquire() as conn:
        await repo.forget_login_attempt(conn, attempt)
        await limits.forget(conn, by_address)
    user = _user(row)
    return user, await _new_session(ctx, user)


async def logout(ctx: Context, *, token: str) -> None:
    async with ctx.pool.acquire() as conn:
        await repo.revoke_session(conn, token_hash(token), now=ctx.clock.now())


async def authenticate(ctx: Context, *, token: str) -> Session:
    """The live session behind `token`, or Unauthenticated."""
    digest = token_hash(token)
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn:
        row = await repo.session_user(conn, digest, now=now)
        if row is None:
            raise Unauthenticated("session expired or signed out")
        idle = now - row["last_seen_at"]
        staff_idle = timedelta(minutes=ctx.settings.staff_idle_minutes)
        if row["role"] != "patient" and idle > staff_idle:
            await repo.revoke_session(conn, digest, now=now)
            raise Unauthenticated("session timed out after inactivity")
        if idle > TOUCH_EVERY:
            await repo.touch_session(conn, digest, now=now)
    return Session(_user(row), row["expires_at"])


async def get_patient(ctx: Context, *, actor: User, patient_id: int) -> User:
    """A patient's account, for staff (booking on their behalf), else NotFound."""
    if not actor.is_staff and actor.id != patient_id:
        raise NotFound("There is no patient with that number.")
    async with ctx.pool.acquire() as conn:
        row = await repo.user_by_id(conn, patient_id)
    if row is None or row["role"] != "patient":
        raise NotFound("There is no patient with that number.")
    return _user(row)


async def search_patients(ctx: Context, *, actor: User, query: str, limit: int = 20) -> list[User]:
    """Patients whose name or email contains `query` (the front desk's "find a patient")."""
    if not actor.is_staff:
        raise Forbidden("only staff search patients")
    query = query.strip()
    if not 2 <= len(query) <= 100:
        raise ValidationFailed("search for 2 to 100 characters of a name or email")
    async with ctx.pool.acquire() as conn:
        rows = await repo.search_patients(conn, query, limit)
    ctx.audit.read(actor_id=actor.id, subject_id=None, entity="patient_search")
    return [User(r["id"], r["email"], r["name"], "patient") for r in rows]
