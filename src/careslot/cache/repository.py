"""SQL for the cache: the layer-2 epoch, the invalidation broadcast, and owner look-ups."""

from __future__ import annotations

from careslot.db import Conn

CHANNEL = "careslot_cache"
ACK_CHANNEL = "careslot_cache_ack"
# application_name of every worker's listener: the prefix, then the worker's node.
LISTENER_PREFIX = "careslot-cache-bus:"
LISTENERS = LISTENER_PREFIX + "%"  # every worker's listener, as a LIKE pattern
EPOCH_KEY = "cache_l2_epoch"


async def epoch(conn: Conn) -> int:
    value = await conn.fetchval("select value from settings where key = $1", EPOCH_KEY)
    return int(value) if value is not None else 0


async def next_epoch(conn: Conn) -> int:
    value = await conn.fetchval(
        """insert into settings (key, value) values ($1, '1'::jsonb)
           on conflict (key) do update
             set value = to_jsonb((settings.value #>> '{}')::bigint + 1)
           returning value""",
        EPOCH_KEY,
    )
    return int(value)


def listener_name(node: str) -> str:
    return LISTENER_PREFIX + node


async def notify(conn: Conn, payload: str, own_listener: str) -> int:
    """Send one message (a write's invalidation, or a worker introducing itself) to the
    workers of other nodes; return how many listen there (every worker of our node has a
    listener named `own_listener`).

    With none, nothing is sent: the writer's own node learns of a write from its
    generations, so its siblings and itself would only have woken to ignore the message,
    and every notifying commit takes PostgreSQL's notify lock. A worker of another node
    that starts listening after this count caches nothing until this node has heard of it
    (bus.py)."""
    row = await conn.fetchrow(
        """select listeners, case when listeners > 0 then pg_notify($1, $2) end
           from (select count(*) as listeners from pg_stat_activity
                 where datname = current_database() and application_name like $3
                   and application_name <> $4) as others""",
        CHANNEL,
        payload,
        LISTENERS,
        own_listener,
    )
    assert row is not None
    return int(row["listeners"])


async def ack(conn: Conn, message_ids: str) -> None:
    """Acknowledge invalidations (their ids, comma-separated)."""
    await conn.execute("select pg_notify($1, $2)", ACK_CHANNEL, message_ids)


async def departments_of(conn: Conn, doctor_ids: list[int]) -> list[int]:
    rows = await conn.fetch(
        "select distinct department_id from doctors where id = any($1::bigint[])", doctor_ids
    )
    return [r["department_id"] for r in rows]
