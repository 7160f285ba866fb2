"""CPU per write, in process, cache off against cache on: what a booking and a cancel cost
careslot and its PostgreSQL backends, one after another (no HTTP server, no concurrency).

    careslot bench --quick --appointments 10000        # once: seeds careslot_bench_10000
    DATABASE_URL=postgresql://…/careslot_bench_10000 REDIS_URL=redis://…/14 \\
        python -m scripts.measure_write_cost [--fastapi-handler] [--reschedule]

Two apps run side by side in this process, one with CARESLOT_CACHE=off and one with it on
(with Redis when REDIS_URL is set); a new patient books a free slot through one of them
straight through the ASGI interface and cancels it (the slot is then free for the next cycle).
With --reschedule, each cycle also moves its booking to the next slot (freed by the last
cycle's cancel) before cancelling it, and times that too. With --fastapi-handler, the cache-on
app also takes turns with its busiest writes served by FastAPI's own request handler instead
of api/bodies.py's readers. The modes take turns, --cycles cycles at a time, for --rounds
rounds; each mode's figure is the minimum over the rounds (CPU time, unlike throughput, is
barely moved by other work on the machine, and the turns keep a slow minute from landing on
one mode only). Every cycle leaves a cancelled appointment and its messages behind, so
PostgreSQL's share grows from run to run on one database: compare modes within a run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
import uvloop

from careslot.api.appointments import DIRECT_WRITES
from careslot.api.routing import direct_writes, fastapi_writes
from careslot.app import create_app
from careslot.bench.runner import _postgres_cpu
from careslot.config import Settings
from careslot.seeding.bulk import SEED_PASSWORD
from scripts.measure_hot_reads import call

JSON = [(b"content-type", b"application/json")]


@dataclass
class Mode:
    name: str
    app: Any
    fastapi_handler: bool = False  # serve the direct writes with FastAPI's handler meanwhile
    timing_reschedules: bool = False  # each cycle also moves its booking before the cancel
    auth: list[tuple[bytes, bytes]] = field(default_factory=list)
    book: list[float] = field(default_factory=list)  # µs of this process per booking
    cancel: list[float] = field(default_factory=list)
    reschedule: list[float] = field(default_factory=list)  # with --reschedule
    postgres: list[float] = field(default_factory=list)  # µs of its backends per cycle


async def _patient(app: Any) -> tuple[str, list[tuple[bytes, bytes]]]:
    """A new patient, with no appointment yet to clash with: its email and bearer header."""
    email = f"write-cost-{uuid.uuid4().hex[:12]}@bench.careslot"
    body = orjson.dumps({"email": email, "password": SEED_PASSWORD, "name": "Write Cost"})
    status, answer = await call(app, "POST", "/api/auth/register", headers=JSON, body=body)
    assert status == 201, answer
    return email, _bearer(answer)


async def _login(app: Any, email: str) -> list[tuple[bytes, bytes]]:
    body = orjson.dumps({"email": email, "password": SEED_PASSWORD})
    status, answer = await call(app, "POST", "/api/auth/login", headers=JSON, body=body)
    assert status == 200, answer
    return _bearer(answer)


def _bearer(answer: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Bearer " + orjson.loads(answer)["token"].encode())]


async def _free_slots(app: Any, auth: Any, doctor: int, zone: dt.tzinfo) -> list[str]:
    """Free slots of one doctor, three weeks ahead and on (past the bench's booked days)."""
    found: list[str] = []
    today = dt.datetime.now(zone).date()
    for ahead in range(21, 60):
        day = (today + dt.timedelta(days=ahead)).isoformat()
        status, body = await call(app, "GET", "/api/slots", f"doctorId={doctor}&date={day}", auth)
        assert status == 200, body
        found += [s["start"] for s in orjson.loads(body)["slots"]]
        if len(found) >= 40:
            return found
    raise SystemExit("too few free slots: book fewer or pick another doctor")


def _handlers(app: Any, *, fastapi: bool) -> None:
    """The direct writes served by FastAPI's own handler, or again by their readers (for
    both apps: they share the routers' route objects)."""
    (fastapi_writes if fastapi else direct_writes)(app, DIRECT_WRITES)


async def _cycles(mode: Mode, slots: list[str], doctor: int, cycles: int, db: str) -> None:
    _handlers(mode.app, fastapi=mode.fastapi_handler)
    try:
        await _timed_cycles(mode, slots, doctor, cycles, db)
    finally:
        _handlers(mode.app, fastapi=False)


async def _timed_cycles(mode: Mode, slots: list[str], doctor: int, cycles: int, db: str) -> None:
    booked = cancelled = rescheduled = 0.0
    before = _postgres_cpu(db)
    for i in range(cycles):
        body = orjson.dumps({"doctorId": doctor, "start": slots[i % len(slots)]})
        started = time.process_time()
        status, answer = await call(
            mode.app, "POST", "/api/appointments", headers=[*JSON, *mode.auth], body=body
        )
        booked += time.process_time() - started
        assert status == 201, answer
        path = f"/api/appointments/{orjson.loads(answer)['id']}"
        if mode.timing_reschedules:  # to the next slot, which the last cycle's cancel freed
            body = orjson.dumps({"start": slots[(i + 1) % len(slots)]})
            started = time.process_time()
            status, answer = await call(
                mode.app, "PATCH", path, headers=[*JSON, *mode.auth], body=body
            )
            rescheduled += time.process_time() - started
            assert status == 200, answer
        started = time.process_time()
        status, answer = await call(
            mode.app,
            "PATCH",
            path,
            headers=[*JSON, *mode.auth],
            body=b'{"status": "cancelled"}',
        )
        cancelled += time.process_time() - started
        assert status == 200, answer
    after = _postgres_cpu(db)
    postgres = sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())
    mode.book.append(1e6 * booked / cycles)
    mode.cancel.append(1e6 * cancelled / cycles)
    mode.reschedule.append(1e6 * rescheduled / cycles)
    mode.postgres.append(1e6 * postgres / cycles)


async def measure(
    url: str,
    redis_url: str | None,
    *,
    cycles: int,
    rounds: int,
    fastapi_handler: bool,
    reschedule: bool = False,
) -> None:
    db = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(url)
    try:
        doctor = await conn.fetchval("select id from doctors where is_active order by id limit 1")
    finally:
        await conn.close()
    common: dict[str, Any] = {
        "database_url": url,
        "outbox_sender": False,
        "mv_refresh_seconds": 0,
        "max_future_appointments": 1_000_000,
    }
    # One app with the cache on: two would be two nodes, and tell each other of every write.
    modes = [
        Mode(
            "cache off",
            create_app(Settings(**common, redis_url=None, cache="off")),
            timing_reschedules=reschedule,
        ),
        Mode(
            "cache on",
            create_app(Settings(**common, redis_url=redis_url, cache="on")),
            timing_reschedules=reschedule,
        ),
    ]
    if fastapi_handler:  # the same cache-on app, its busiest writes served by FastAPI
        modes.append(Mode("cache on, FastAPI's handler", modes[1].app, fastapi_handler=True))
    async with contextlib.AsyncExitStack() as stack:
        for app in dict.fromkeys(mode.app for mode in modes):
            await stack.enter_async_context(app.router.lifespan_context(app))
        email, modes[0].auth = await _patient(modes[0].app)
        for mode in modes[1:]:
            mode.auth = await _login(mode.app, email)
        slots = await _free_slots(modes[0].app, modes[0].auth, doctor, Settings().zone)
        for mode in modes:  # warm: plans, pools, the catalogue copy
            await _cycles(mode, slots, doctor, 20, db)
            mode.book.clear(), mode.cancel.clear(), mode.reschedule.clear()
            mode.postgres.clear()
        for turn in range(rounds):
            for mode in modes[turn % len(modes) :] + modes[: turn % len(modes)]:
                await _cycles(mode, slots, doctor, cycles, db)
    cycle = "booking, reschedule and cancel" if reschedule else "booking and cancel"
    print(f"{cycles} of each {cycle} per round, {rounds} rounds; Redis: {redis_url or 'none'}")
    for mode in modes:
        moved = f"reschedule {min(mode.reschedule):6.0f} µs, " if reschedule else ""
        rounds_seen = zip(mode.book, mode.reschedule, mode.cancel, strict=True)
        print(
            f"{mode.name:27}  booking {min(mode.book):6.0f} µs, {moved}cancel "
            f"{min(mode.cancel):6.0f} µs of careslot CPU; PostgreSQL {min(mode.postgres):6.0f} µs "
            f"per {cycle} (rounds: "
            f"{', '.join('+'.join(f'{v:.0f}' for v in r if v) for r in rounds_seen)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--fastapi-handler",
        action="store_true",
        help="also time the cache-on app with its busiest writes served by FastAPI's handler",
    )
    parser.add_argument(
        "--reschedule",
        action="store_true",
        help="each cycle also moves its booking to the next slot before the cancel, timed",
    )
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL")
    uvloop.run(
        measure(
            args.database_url,
            redis_url,
            cycles=args.cycles,
            rounds=args.rounds,
            fastapi_handler=args.fastapi_handler,
            reschedule=args.reschedule,
        )
    )


if __name__ == "__main__":
    main()
