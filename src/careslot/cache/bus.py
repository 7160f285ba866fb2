"""Cross-worker invalidation over PostgreSQL LISTEN/NOTIFY, acknowledged.

Why PostgreSQL and not Redis pub/sub, even when Redis is configured: a write has just
committed to PostgreSQL, so the database is up; a broadcast over it cannot be lost while
the write succeeds. Over Redis, a dead or hung Redis would silently leave every other
worker's layer 1 stale, which is the one failure a booking system must not have.

A write does not answer until every listening worker of every other node has acknowledged
(or a short deadline passed): "fresh in every worker before the response returns" is then a
fact, not a race. The workers of the writer's own node need no message: they compare the
node's generations on every read (generations.py), so they neither acknowledge nor slow
the write down; they ignore their siblings' messages. A worker whose listener connection
dies drops its layer 1 and reads from PostgreSQL until it is listening again.

A lone node (the usual single server) sends nothing and runs no statement for a write. Each
worker knows whether a worker of another node may listen (`others`), and a joining worker
makes sure it is known before it caches anything: it introduces itself with a message of
no tags, counted and acknowledged like a write's, and uses no cache layer until every
worker of another node that listened then has acknowledged it. A worker sets `others` when
it hears any message of another node, before it acknowledges it; a write reads `others`
after it has dropped Redis. So a write that saw no other node had dropped Redis before the
joining worker could read it, and every later write tells the joiner. `others` goes back to
false only when a write's own count finds no listener of another node and nothing was heard
from one meanwhile.

Under load, writes and acknowledgements are grouped: while one NOTIFY is on its way, the
invalidations that arrive queue up and leave together in the next one (their tags joined,
each keeping its id), and a worker acknowledges every id it has applied in one NOTIFY. A
burst of writes then costs a worker one round trip per group, not one per write, and no
write waits behind another's acknowledgement round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import orjson

from careslot.cache import metrics
from careslot.cache import repository as repo
from careslot.cache.keys import EVERYTHING
from careslot.db import Conn
from careslot.db.failures import BROKEN_CONNECTION, DATABASE_ERRORS, UNAVAILABLE
from careslot.db.pool import dedicated_connection

log = logging.getLogger("careslot.cache.bus")
MAX_PAYLOAD = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more

T = TypeVar("T")
OnRemote = Callable[[tuple[str, ...], int | None], None]


@dataclass(slots=True)
class _Pending:
    tags: tuple[str, ...]
    epoch: int | None
    acks: int = 0
    expected: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        if self.expected is not None and self.acks >= self.expected:
            self.done.set()


class InvalidationBus:
    def __init__(
        self,
        dsn: str,
        *,
        node: str | None = None,
        on_remote: OnRemote,
        on_lost: Callable[[], None],
        on_restored: Callable[[], Awaitable[None]],
        ack_timeout: float = 0.25,
        health_every: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.worker_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.node = node or secrets.token_hex(6)  # without a node table, a node of its own
        self.listener_name = repo.listener_name(self.node)
        self.on_remote, self.on_lost, self.on_restored = on_remote, on_lost, on_restored
        self.ack_timeout = ack_timeout
        self.health_every = health_every
        self.connected = False
        self.introduced = False  # every listening worker of another node has heard of this one
        self.others = True  # a worker of another node may listen (until a count says none)
        self._heard = 0  # messages heard from other nodes: a count that raced one is void
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the listener connection
        self._pending: dict[str, _Pending] = {}
        self._outgoing: list[str] = []  # ids waiting for the next NOTIFY
        self._sending = False  # a NOTIFY of ours is on its way
        self._unacked: list[str] = []  # ids applied here, to acknowledge in the next ack
        self._acking = False
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Whether this worker may cache: it hears other nodes' writes, and they tell it."""
        return self.connected and self.introduced

    async def start(self) -> None:
        try:
            await self._connect()
            self.connected = True
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cache invalidation channel unavailable (%s); layer 1 off", exc)
        if self.connected:
            await self._introduce()
        self._watch = asyncio.create_task(self._watch_loop(), name="cache-bus-watch")

    async def _introduce(self) -> None:
        """Tell the workers of other nodes that this one listens; it is `introduced` once
        every one of them that listened then has acknowledged (else the watch tries again)."""
        message_id = f"{self.worker_id}:{next(self._seq)}"
        pending = self._pending[message_id] = _Pending((), None)
        try:
            heard = self._heard
            async with self._lock:
                if self._conn is None:
                    return
                pending.expected = await repo.notify(
                    self._conn, self._payload([message_id], (), None), self.listener_name
                )
            self._counted(pending.expected, heard)
            pending.check()
            if not await self._acknowledged(pending, self.health_every):
                return
            # A write that moved the layer-2 epoch before its worker heard of this one told
            # nobody: read the epoch again now that every such write is over.
            await self.on_restored()
        except DATABASE_ERRORS as exc:
            log.warning("cache invalidation: could not introduce this worker (%s)", exc)
            return
        finally:
            del self._pending[message_id]
        self.introduced = True

    async def stop(self) -> None:
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for task in list(self._tasks):
            task.cancel()
        conn, self._conn, self.connected = self._conn, None, False
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
                await asyncio.wait_for(conn.close(), 2)

    async def _connect(self) -> None:
        self._conn = await dedicated_connection(
            self.dsn,
            self._listen,
            timeout=5,
            server_settings={"application_name": self.listener_name},
        )

    async def _listen(self, conn: asyncpg.Connection) -> None:
        await conn.add_listener(repo.CHANNEL, self._on_notify)
        await conn.add_listener(repo.ACK_CHANNEL, self._on_ack)
        conn.add_termination_listener(self._on_terminated)

    def _lose(self, reason: str) -> None:
        if not self.connected:
            return
        self.connected = self.introduced = False
        self.others = True  # a rejoining worker of another node may not be counted yet
        metrics.CHANNEL_LOSSES.inc()
        log.warning(
            "cache invalidation channel lost (%s); layer 1 dropped until it returns", reason
        )
        self.on_lost()

    def _on_terminated(self, conn: Any) -> None:
        if conn is self._conn:
            self._lose("connection closed")

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_every)
            if self.connected and self._conn is not None:
                try:
                    async with asyncio.timeout(1.0), self._lock:
                        await self._conn.fetchval("select 1")
                except UNAVAILABLE:
                    self._lose("health check failed")
                    conn, self._conn = self._conn, None
                    conn.terminate()
            if not self.connected:
                try:
                    await self._connect()
                    # Clear layer 1 again (messages may have been missed) and re-read the
                    # layer-2 epoch before trusting any cache again.
                    await self.on_restored()
                except DATABASE_ERRORS:
                    continue
                self.connected = True
                log.warning("cache invalidation channel restored")
            if self.connected and not self.introduced:
                await self._introduce()

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        try:
            message = orjson.loads(str(payload))
            origin, node = message["from"], message["node"]
            ids = [str(i) for i in message["ids"]]
            tags = tuple(str(t) for t in message["tags"])
            epoch = message.get("epoch")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring a malformed cache invalidation message")
            return
        if origin == self.worker_id or node == self.node:
            return  # applied before it was sent, here or in the node's generations
        self._heard += 1
        self.others = True  # before the acknowledgement: see the module's docstring
        if tags or epoch is not None:  # else an introduction: nothing to drop
            self.on_remote(tags, int(epoch) if epoch is not None else None)
        self._unacked.extend(ids)
        if not self._acking:
            self._acking = True
            task = asyncio.get_running_loop().create_task(self._ack())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _ack(self) -> None:
        """Acknowledge everything applied so far, in as few NOTIFYs as it takes."""
        try:
            while self._unacked:
                ids, self._unacked = self._unacked, []
                async with self._lock:
                    if self._conn is not None:
                        await repo.ack(self._conn, ",".join(ids))
        except DATABASE_ERRORS:
            self._lose("could not acknowledge")
        finally:
            self._acking = False

    def _on_ack(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        for message_id in str(payload).split(","):
            pending = self._pending.get(message_id)
            if pending is not None:
                pending.acks += 1
                pending.check()

    async def run(
        self,
        pool: asyncpg.Pool,
        work: Callable[[Conn], Awaitable[T]],
    ) -> T:
        """Run one short statement on the listener connection (a write's invalidation then
        never queues for the pool behind the requests it is holding up), else on the pool."""
        if self.connected and self._conn is not None:
            try:
                async with self._lock:
                    return await work(self._conn)
            except BROKEN_CONNECTION:
                self._lose("statement failed")
                broken, self._conn = self._conn, None
                if broken is not None:
                    broken.terminate()
        async with pool.acquire() as conn:
            return await work(conn)

    async def broadcast(self, pool: asyncpg.Pool, tags: tuple[str, ...], epoch: int | None) -> None:
        """Tell every other worker, and wait until those of other nodes have applied it.
        The caller has dropped Redis already: `others` must be read after that."""
        if not self.others:
            return
        message_id = f"{self.worker_id}:{next(self._seq)}"
        pending = self._pending[message_id] = _Pending(tags, epoch)
        self._outgoing.append(message_id)
        try:
            if not self._sending:
                await self._send_queued(pool)
            await self._acknowledged(pending, self.ack_timeout)
        finally:
            del self._pending[message_id]

    async def _acknowledged(self, pending: _Pending, timeout: float) -> bool:
        """Wait until every listening worker of another node has applied `pending`."""
        try:
            if not pending.done.is_set():  # set already when no other node listens
                await asyncio.wait_for(pending.done.wait(), timeout)
        except TimeoutError:
            log.warning(
                "cache invalidation: %d of %s workers acknowledged in %.0f ms",
                pending.acks,
                pending.expected,
                timeout * 1000,
            )
            return False
        return True

    def _counted(self, listeners: int, heard: int) -> None:
        """A count of other nodes' listeners, taken when `heard` messages had been heard."""
        if listeners == 0 and heard == self._heard:
            self.others = False  # until a worker of another node introduces itself

    async def _send_queued(self, pool: asyncpg.Pool) -> None:
        """Send every queued id in one NOTIFY, with all their tags. What queues meanwhile
        goes in the next one, sent by a task, so no writer sends the others' forever."""
        self._sending = True
        try:
            ids, self._outgoing = self._outgoing, []
            group = [self._pending[i] for i in ids if i in self._pending]
            tags = tuple(dict.fromkeys(t for p in group for t in p.tags))
            epochs = [p.epoch for p in group if p.epoch is not None]
            epoch = max(epochs) if epochs else None
            payload = self._payload(ids, tags, epoch)
            heard = self._heard
            try:
                expected = await self.run(pool, _notifier(payload, self.listener_name))
            except BaseException:
                for p in group:  # their writers stop waiting; the error is logged once
                    p.done.set()
                raise
            self._counted(expected, heard)
            for p in group:
                p.expected = expected
                p.check()
        finally:
            if self._outgoing:
                task = asyncio.get_running_loop().create_task(self._send_later(pool))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._sending = False

    def _payload(self, ids: list[str], tags: tuple[str, ...], epoch: int | None) -> str:
        message = {"ids": ids, "from": self.worker_id, "node": self.node, "epoch": epoch}
        payload = orjson.dumps({**message, "tags": tags}).decode()
        if len(payload) > MAX_PAYLOAD:
            payload = orjson.dumps({**message, "tags": [EVERYTHING]}).decode()
        return payload

    async def _send_later(self, pool: asyncpg.Pool) -> None:
        try:
            await self._send_queued(pool)
        except DATABASE_ERRORS as exc:
            log.warning("cache invalidation could not be sent: %s", exc)


def _notifier(payload: str, listener_name: str) -> Callable[[Conn], Awaitable[int]]:
    return lambda conn: repo.notify(conn, payload, listener_name)
