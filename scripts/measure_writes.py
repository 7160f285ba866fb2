"""The bench's booking phase alone: N patients book distinct slots at once, on a bench database.

    careslot bench --quick --appointments 10000          # once: seeds careslot_bench_10000
    python scripts/measure_writes.py --cache on --connections 16 --seconds 6
    python scripts/measure_writes.py --cache on --connections 1 --no-outbox

Starts `careslot serve --workers 2` on the bench database (as `careslot bench` does, with the
per-patient limit lifted), plans slots for the logged-in patients (the days after day 16, each
slot once, no patient in two places), and runs wrk's "booking" group for --seconds. Prints
bookings/s, p50/p99, and CPU per booking of careslot and of its PostgreSQL backends.

--no-outbox: what the outbox costs a booking. For the run, the bench database's
outbox_appointment_changed is replaced by a no-op (bookings then write no messages); the
shipped definition (the newest migration that defines it) is put back afterwards, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from importlib.resources import files
from pathlib import Path

import asyncpg

from careslot.bench import database, population, wrk
from careslot.bench.runner import BENCH_ENV, _measured
from careslot.bench.server import CareslotServer
from careslot.bench.summary import bookings
from careslot.config import Settings

NO_OUTBOX = """create or replace function outbox_appointment_changed(
    p_appointment bigint, p_event text, p_now timestamptz, p_reminders interval[]
) returns void language plpgsql as $$ begin end $$"""


def shipped_outbox() -> str:
    """The newest migration's definition of outbox_appointment_changed."""
    migrations = sorted(files("careslot").joinpath("migrations").iterdir(), key=lambda f: f.name)
    pattern = r"create or replace function outbox_appointment_changed.*?\$\$;"
    for migration in reversed(migrations):
        if migration.name.endswith(".sql"):
            found = re.search(pattern, migration.read_text(), re.S)
            if found is not None:
                return found.group(0)
    raise LookupError("no migration defines outbox_appointment_changed")


async def execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="careslot_bench_10000")
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--no-outbox", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-out/writes"))
    args = parser.parse_args()
    settings = Settings()
    assert settings.database_url, "DATABASE_URL: the server holding the bench database"
    url = settings.database_url.rsplit("/", 1)[0] + "/" + args.database
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(database.cancel_leftovers(url, population.BOOKING_REASON))
    if args.no_outbox:
        asyncio.run(execute(url, NO_OUTBOX))
    try:
        env = {**BENCH_ENV, **({"REDIS_URL": settings.redis_url} if settings.redis_url else {})}
        with CareslotServer(
            database_url=url,
            cache=args.cache,
            workers=2,
            log_path=args.out / "serve.log",
            extra_env=env,
        ) as server:
            pop = population.gather(
                base_url=server.base_url,
                database_url=url,
                patients=args.patients,
                doctors_for_slots=1,
                plans=("writes",),
                zone=settings.zone,
            )
            data = population.write_lua_data(
                args.out / "data.lua", pop, run_id=uuid.uuid4().hex[:8], book_slots=pop.slots[:10]
            )
            server.wait_idle()
            group = wrk.Group("booking", args.connections, plan="writes")
            run = _measured(
                server,
                args.database,
                lambda: wrk.run_groups(
                    base_url=server.base_url,
                    groups=[group],
                    duration=args.seconds,
                    data_file=data,
                ),
            )
    finally:
        if args.no_outbox:
            asyncio.run(execute(url, shipped_outbox()))
    b = bookings(run, "booking")
    refused = sum(b["conflicts_409"].values())
    print(
        f"cache {args.cache}, {args.connections} connections, outbox "
        f"{'off' if args.no_outbox else 'on'}: {b['booked_per_s']:.0f} bookings/s, "
        f"p50 {b['p50']:.2f} ms, p99 {b['p99']:.2f} ms, 409s {refused:.0f}, "
        f"5xx {b['server_errors_5xx']:.0f}; CPU per booking: careslot {b['careslot_cpu_ms']:.2f} "
        f"ms, PostgreSQL {b['postgres_cpu_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
