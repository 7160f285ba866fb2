"""Per-client-address limits on what costs a password hash (issue 13).

Failed sign-ins are also throttled per email (accounts/repository.py), but ever-new unknown
emails would each get a full argon2 check; registration hashes every time. So each client
address gets CARESLOT_LOGIN_FAILURES_PER_ADDRESS failed sign-ins per 15 minutes (default 100)
and CARESLOT_REGISTRATIONS_PER_ADDRESS registrations per hour (default 20); 0 turns a limit
off. Beyond it: 429 `rate_limited` with Retry-After, before any hashing.

The address is the TCP peer's, or, when the peer is one of CARESLOT_TRUSTED_PROXIES, the
right-most address in X-Forwarded-For that is not itself a trusted proxy (the left part of
that header is whatever the client sent, so it is never believed).

Attempts are rows in `address_attempts`, counted in a transaction under an advisory lock per
(kind, address), so parallel attempts cannot all slip past the count; windows are decided
with the context's clock.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from functools import lru_cache

from careslot.db import Conn
from careslot.errors import RateLimited

LOGIN, REGISTER = "login", "register"
WINDOWS = {LOGIN: timedelta(minutes=15), REGISTER: timedelta(hours=1)}
LONGEST_WINDOW = max(WINDOWS.values())
_MESSAGES = {
    LOGIN: "too many failed sign-ins from this address; try again later",
    REGISTER: "too many registrations from this address; try again later",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple[Network, ...]:
    """CARESLOT_TRUSTED_PROXIES: comma-separated addresses or CIDR networks."""
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()
    )


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: str) -> str:
    """Who is asking: the peer, or the first untrusted hop of X-Forwarded-For behind a
    trusted proxy (read right to left)."""
    address = peer or "unknown"
    networks = trusted_networks(trusted_proxies)
    if not networks or not _trusted(address, networks) or not forwarded_for:
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed header: fall back to the proxy itself
        if not _trusted(hop, networks):
            return hop
        address = hop
    return address


async def claim(conn: Conn, *, kind: str, address: str, limit: int, now: datetime) -> int | None:
    """Count this attempt against `address`, or raise RateLimited when `limit` attempts of
    `kind` already stand in the window. Returns the attempt's id (None when the limit is off)."""
    if limit <= 0:
        return None
    window = WINDOWS[kind]
    async with conn.transaction():
        await conn.execute(
            "select pg_advisory_xact_lock(hashtext('careslot.address:' || $1 || ':' || $2))",
            kind,
            address,
        )
        row = await conn.fetchrow(
            "select count(*) as n, min(at) as oldest from address_attempts"
            " where kind = $1 and address = $2 and at > $3",
            kind,
            address,
            now - window,
        )
        assert row is not None
        if row["n"] >= limit:
            wait = (row["oldest"] + window - now).total_seconds()
            raise RateLimited(_MESSAGES[kind], retryAfter=max(1, math.ceil(wait)))
        attempt: int = await conn.fetchval(
            "insert into address_attempts (kind, address, at) values ($1, $2, $3) returning id",
            kind,
            address,
            now,
        )
        return attempt


async def forget(conn: Conn, attempt: int | None) -> None:
    """A sign-in that succeeded is no failure."""
    if attempt is not None:
        await conn.execute("delete from address_attempts where id = $1", attempt)
