"""SQL for users, sessions and login failures."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from careslot.db import Conn

_USER_COLUMNS = """u.id, u.email, u.name, u.role,
                   (select d.id from doctors d where d.user_id = u.id) as doctor_id"""


async def insert_user(
    conn: Conn, *, email: str, password_hash: str, name: str, role: str
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""with u as (insert into users (email, password_hash, name, role)
                       values ($1, $2, $3, $4) returning *)
            select {_USER_COLUMNS} from u""",
        email,
        password_hash,
        name,
        role,
    )
    assert row is not None  # insert ... returning always yields the row
    return row


async def user_for_login(conn: Conn, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""select {_USER_COLUMNS}, u.password_hash from users u
            where lower(u.email) = lower($1) and u.is_active""",
        email,
    )


async def user_by_id(conn: Conn, user_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {_USER_COLUMNS} from users u where u.id = $1", user_id)


async def claim_login_attempt(
    conn: Conn, *, email: str, now: datetime, since: datetime, limit: int
) -> int | None:
    """Record this attempt as a failure unless `limit` failures since `since` already
    stand; returns its id, or None when throttled.

    Attempts on one email are serialised and counted before the password is checked, so a
    burst of parallel guesses cannot all slip past the count."""
    async with conn.transaction():
        await conn.execute(
            "select pg_advisory_xact_lock(hashtext('careslot.login:' || lower($1)))", email
        )
        failures: int = await conn.fetchval(
            "select count(*) from login_failures where lower(email) = lower($1) and at > $2",
            email,
            since,
        )
        if failures >= limit:
            return None
        attempt: int = await conn.fetchval(
            "insert into login_failures (email, at) values ($1, $2) returning id", email, now
        )
        return attempt


async def forget_login_attempt(conn: Conn, attempt_id: int) -> None:
    await conn.execute("delete from login_failures where id = $1", attempt_id)


async def insert_session(
    conn: Conn, *, token_hash: bytes, user_id: int, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "insert into sessions (token_hash, user_id, created_at, last_seen_at, expires_at) "
        "values ($1, $2, $3, $3, $4)",
        token_hash,
        user_id,
        now,
        expires_at,
    )


async def session_user(conn: Conn, token_hash: bytes, *, now: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""select {_USER_COLUMNS}, s.last_seen_at, s.expires_at
            from sessions s join users u on u.id = s.user_id
            where s.token_hash = $1 and s.revoked_at is null and s.expires_at > $2
              and u.is_active""",
        token_hash,
        now,
    )


async def touch_session(conn: Conn, token_hash: bytes, *, now: datetime) -> None:
    await conn.execute(
        "update sessions set last_seen_at = $2 where token_hash = $1", token_hash, now
    )


async def revoke_session(conn: Conn, token_hash: bytes, *, now: datetime) -> None:
    await conn.execute(
        "update sessions set revoked_at = $2 where token_hash = $1 and revoked_at is null",
        token_hash,
        now,
    )


async def search_patients(conn: Conn, query: str, limit: int) -> list[asyncpg.Record]:
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return await conn.fetch(
        """select u.id, u.email, u.name from users u
           where u.role = 'patient' and u.is_active
             and (u.name ilike $1 or u.email ilike $1)
           order by u.name, u.id limit $2""",
        pattern,
        limit,
    )
