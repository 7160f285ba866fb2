"""Layer 2: Redis, shared by every worker. Fails open: any error or timeout is a miss, and a
circuit breaker then skips Redis for a moment so a dead or hung server costs no latency.

The breaker tells a dead Redis from a slow one: a refused or reset connection opens it at
once, but a timeout only counts, and it opens after `failures_to_open` (default 3) failures in
a row; any success resets the count. One reply slower than 50 ms on a loaded machine then
costs one miss (and, for an invalidation, one epoch move), not every write for the cool-down.

Keys live under a database namespace and an epoch (`cs:v1:<db>:e3:...`). When a write
cannot invalidate Redis (it is down or hung), the epoch moves on (recorded in PostgreSQL
and broadcast), so entries that missed their invalidation are never read again, whatever
state Redis comes back in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from careslot.cache import metrics
from careslot.cache.entry import Entry
from careslot.cache.generations import Generations
from careslot.cache.keys import PREFIX

log = logging.getLogger("careslot.cache.redis")
T = TypeVar("T")
DROPPERS_KEPT = 8  # idle connections kept for writes' drops; more at once are closed after
TAG_LIFETIME = 7200  # longer than any strategy TTL, so a tag outlives the keys it lists

# Store only if no owner of the key was invalidated since the load began (its generation
# is unchanged); a slow load can then never put back an answer older than a write.
STORE = """
local n = (#KEYS - 1) / 2
for i = 1, n do
  if (redis.call('GET', KEYS[1 + n + i]) or '') ~= ARGV[2 + i] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 1, n do
  redis.call('SADD', KEYS[1 + i], KEYS[1])
  redis.call('EXPIRE', KEYS[1 + i], TAG_LIFETIME)
end
return 1
""".replace("TAG_LIFETIME", str(TAG_LIFETIME))

# KEYS: tag sets then their generation counters (same order).
INVALIDATE = """
local n = #KEYS / 2
local dropped = 0
for i = 1, n do
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    dropped = dropped + redis.call('DEL', k)
  end
  redis.call('DEL', KEYS[i])
  redis.call('INCR', KEYS[n + i])
  redis.call('EXPIRE', KEYS[n + i], TAG_LIFETIME)
end
return dropped
""".replace("TAG_LIFETIME", str(TAG_LIFETIME))


def _raw(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class RedisLayer:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        cooldown: float,
        namespace: str = "",
        epoch: int = 0,
        failures_to_open: int = 3,
        generations: Generations | None = None,
    ) -> None:
        self.client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
            max_connections=64,
        )
        self.timeout = timeout
        self.cooldown = cooldown
        # The epoch lives in the node's generation table, so a move by any worker of this node
        # holds for all of them at once.
        self._generations = generations or Generations()
        self.epoch = epoch
        # One Redis may serve several careslot databases (staging, tests): never mix them.
        self.namespace = namespace
        self._open_until = 0.0
        self._probing = False
        self.failures_to_open = max(1, failures_to_open)
        self._failures = 0  # consecutive
        self._store = self.client.register_script(STORE)
        self._invalidate = self.client.register_script(INVALIDATE)
        # A write's drop runs on connections of its own, straight through the client's
        # connection class: the pool's locking and the command layer cost more client CPU
        # than the round trip (scripts/measure_invalidation.py). No socket timeout of their
        # own: _guard bounds the whole call.
        pool = self.client.connection_pool
        self._dropper_class = pool.connection_class  # TCP, TLS or a Unix socket, as the URL says
        self._drop_settings = {**pool.connection_kwargs, "socket_timeout": None}
        self._droppers: list[AbstractConnection] = []  # idle ones, at most DROPPERS_KEPT

    @property
    def epoch(self) -> int:
        return self._generations.epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        """Epochs only move on: setting an older one keeps the newer."""
        self._generations.raise_epoch(epoch)

    @property
    def available(self) -> bool:
        return self._open_until == 0.0

    @property
    def _base(self) -> str:
        return f"{PREFIX}:{self.namespace}:e{self.epoch}"

    def _k(self, key: str) -> str:
        return f"{self._base}:{key.removeprefix(PREFIX + ':')}"

    def _tag_keys(self, tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
        base = self._base
        return [f"{base}:tag:{t}" for t in tags], [f"{base}:gen:{t}" for t in tags]

    async def _guard(self, call: Awaitable[T]) -> tuple[bool, T | None]:
        """(True, result), or (False, None) when Redis failed or the circuit is open."""
        now = time.monotonic()
        if self._open_until:
            if now < self._open_until or self._probing:
                if asyncio.iscoroutine(call):
                    call.close()
                return False, None
            self._probing = True  # half open: this one call probes, the others still skip
        try:
            async with asyncio.timeout(self.timeout * 2):  # connect + one reply at most
                result = await call
        except (RedisError, OSError, TimeoutError) as exc:
            metrics.REDIS_ERRORS.inc()
            self._failures += 1
            slow = isinstance(exc, (TimeoutError, RedisTimeoutError))
            if slow and self._failures < self.failures_to_open and not self._probing:
                return False, None  # slow, not (yet) dead: this call misses, the next tries
            if self._open_until == 0.0 or self._probing:
                metrics.CIRCUIT_OPENS.inc()
                log.warning(
                    "redis unavailable (%s); using the database for %.1f s",
                    type(exc).__name__,
                    self.cooldown,
                )
            self._open_until = time.monotonic() + self.cooldown
            return False, None
        finally:
            self._probing = False
        self._failures = 0
        if self._open_until:
            log.warning("redis is back; layer 2 in use again")
            self._open_until = 0.0
        return True, result

    async def get(self, key: str, tags: tuple[str, ...]) -> tuple[Entry | None, list[str] | None]:
        """The entry (or None) and what to store against (None: skip): the epoch the read was
        made in, then the owners' generations in that epoch."""
        epoch = self.epoch
        _, gens = self._tag_keys(tags)
        ok, values = await self._guard(self.client.mget([self._k(key), *gens]))
        if not ok or values is None:
            return None, None
        raw, *generations = values  # bytes: the client does not decode responses
        entry = Entry.unpack(_raw(raw)) if raw is not None else None
        return entry, [
            str(epoch),
            *(_raw(g).decode() if g is not None else "" for g in generations),
        ]

    async def put(
        self, key: str, entry: Entry, *, tags: tuple[str, ...], ttl: float, generations: list[str]
    ) -> None:
        """Store `entry` unless an owner changed since `get`: its generation moved, or the
        epoch did (an invalidation missed Redis while the answer was loading; the new epoch's
        counters start empty, so comparing them with the old epoch's would let it through)."""
        read_in, *generations = generations
        if read_in != str(self.epoch):
            return
        sets, gens = self._tag_keys(tags)
        await self._guard(
            self._store(
                keys=[self._k(key), *sets, *gens],
                args=[entry.pack(), int(ttl * 1000), *generations],
            )
        )

    async def invalidate(self, tags: tuple[str, ...]) -> bool:
        """False when Redis could not be reached: the caller must move the epoch on."""
        if not tags:
            return True
        sets, gens = self._tag_keys(tags)
        ok, _ = await self._guard(self._drop([*sets, *gens]))
        return ok

    async def _drop(self, keys: list[str]) -> object:
        """Run INVALIDATE on an idle dropping connection (a new one when none is idle)."""
        conn = self._droppers.pop() if self._droppers else self._new_dropper()
        try:
            try:
                await conn.send_packed_command(
                    conn.pack_command("EVALSHA", self._invalidate.sha, len(keys), *keys),
                    check_health=False,
                )
                reply = await conn.read_response()
            except NoScriptError:  # Redis restarted or flushed its scripts
                await conn.send_packed_command(
                    conn.pack_command("EVAL", INVALIDATE, len(keys), *keys), check_health=False
                )
                reply = await conn.read_response()
        except BaseException:
            # Cancelled or failed half way, a reply may be left unread: never reuse it.
            await conn.disconnect(nowait=True)
            raise
        if len(self._droppers) < DROPPERS_KEPT:
            self._droppers.append(conn)
        else:
            await conn.disconnect()
        return reply

    def _new_dropper(self) -> AbstractConnection:
        conn: AbstractConnection = self._dropper_class(**self._drop_settings)
        return conn

    async def close(self) -> None:
        droppers, self._droppers = self._droppers, []
        for conn in droppers:
            with contextlib.suppress(RedisError, OSError):
                await conn.disconnect()
        try:
            await self.client.aclose()
        except (RedisError, OSError):
            pass
