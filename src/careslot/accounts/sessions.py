"""Sessions in the cache: who is calling, without a database round trip per request.

A signed-in request is answered from layer 1 (or Redis) once its session was checked
against PostgreSQL within the last SESSIONS.ttl seconds. Sign-out revokes the session in
the database first and then invalidates its key in every layer and every worker before the
204 returns, so a dead token is refused everywhere at once. A worker that cannot hear
invalidations bypasses the cache (Cache.fetch), so it never trusts a revoked session.

The short TTL (CARESLOT_SESSION_CACHE_SECONDS, default 30) keeps the other limits exact
enough: a staff session idle for 30 minutes has long left the cache, so its next request
takes the database path, which revokes it.
"""

from __future__ import annotations

import functools
import hashlib

import orjson

from careslot.accounts import service as accounts
from careslot.accounts.models import Role, User
from careslot.cache import keys
from careslot.cache.strategies import Strategy
from careslot.context import Context

SESSIONS = "sessions"


@functools.lru_cache(maxsize=8)
def _strategy(ttl: float) -> Strategy:
    """One Strategy per TTL (settings give one), not one per request."""
    return Strategy(SESSIONS, ttl)


def _tag(token: str) -> str:
    return "session:" + hashlib.blake2b(token.encode(), digest_size=16).hexdigest()


async def authenticate(ctx: Context, token: str) -> User:
    ttl = ctx.settings.session_cache_seconds
    if ttl <= 0:
        return (await accounts.authenticate(ctx, token=token)).user

    async def load() -> bytes:
        session = await accounts.authenticate(ctx, token=token)
        user = session.user
        return orjson.dumps(
            {
                **user.public().model_dump(),
                "doctorId": user.doctor_id,
                "expiresAt": session.expires_at.timestamp(),
            }
        )

    tag = _tag(token)
    fetched = await ctx.cache.fetch(_strategy(ttl), keys.key(SESSIONS, tag), (tag,), load)
    user, expires_at = _decoded(fetched.entry.body)
    if expires_at <= ctx.clock.now().timestamp():
        await ctx.cache.invalidate((tag,), (SESSIONS,))
        return (await accounts.authenticate(ctx, token=token)).user
    return user


# A cached session comes back as the same body on every hit, so it is decoded once: the
# body (who, and until when; never the token) maps to its frozen User. Only bodies the cache
# just handed out are looked up, so a revoked or expired session is refused as before.
_DECODED: dict[bytes, tuple[User, float]] = {}
DECODED_MAX = 10_000  # sessions kept decoded per process; all are dropped when it is full


def _decoded(body: bytes) -> tuple[User, float]:
    found = _DECODED.get(body)
    if found is None:
        data = orjson.loads(body)
        user = User(data["id"], data["email"], data["name"], Role(data["role"]), data["doctorId"])
        found = (user, float(data["expiresAt"]))
        if len(_DECODED) >= DECODED_MAX:
            _DECODED.clear()
        _DECODED[body] = found
    return found


async def logout(ctx: Context, token: str) -> None:
    await accounts.logout(ctx, token=token)
    await ctx.cache.invalidate((_tag(token),), (SESSIONS,))
