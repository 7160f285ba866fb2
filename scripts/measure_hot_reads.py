"""CPU per cached answer of the hot reads, in process (no HTTP server, no client): the app's own
cost of /healthz, a patient's /api/dashboard/stats and /api/slots for one doctor and day.

    careslot bench --quick --appointments 10000        # once: seeds careslot_bench_10000
    DATABASE_URL=postgresql://…/careslot_bench_10000 python scripts/measure_hot_reads.py

Each route is warmed (so the answers are cached), then called --calls times straight through
the ASGI interface; process CPU time per call is printed, the minimum over --rounds rounds
(CPU time, unlike latency, is barely moved by other work on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
from typing import Any

import asyncpg
import orjson

from careslot.app import create_app
from careslot.bench.population import SEEDED_PATIENTS
from careslot.config import Settings
from careslot.seeding.bulk import SEED_PASSWORD


async def call(
    app: Any, method: str, path: str, query: str = "", headers: Any = (), body: bytes = b""
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"t"), (b"accept", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


async def measure(url: str, *, calls: int, rounds: int) -> None:
    settings = Settings(
        database_url=url, redis_url=None, cache="on", outbox_sender=False, mv_refresh_seconds=0
    )
    app = create_app(settings)
    conn = await asyncpg.connect(url)
    try:
        email = await conn.fetchval(
            "select email from users where role = 'patient' and email like $1 order by id limit 1",
            SEEDED_PATIENTS,
        )
        doctor = await conn.fetchval("select id from doctors where is_active order by id limit 1")
    finally:
        await conn.close()
    async with app.router.lifespan_context(app):
        status, body = await call(
            app,
            "POST",
            "/api/auth/login",
            headers=[(b"content-type", b"application/json")],
            body=orjson.dumps({"email": email, "password": SEED_PASSWORD}),
        )
        assert status == 200, body
        auth = [(b"authorization", b"Bearer " + orjson.loads(body)["token"].encode())]
        day = (dt.datetime.now(settings.zone).date() + dt.timedelta(days=3)).isoformat()
        cases = [
            ("/healthz", "", ()),
            ("/api/dashboard/stats", "", auth),
            ("/api/slots", f"doctorId={doctor}&date={day}", ()),
        ]
        spent: dict[str, list[float]] = {}
        for _ in range(rounds):
            for path, query, headers in cases:
                for _ in range(200):
                    status, body = await call(app, "GET", path, query, headers)
                assert status == 200, (path, status, body)
                started = time.process_time()
                for _ in range(calls):
                    await call(app, "GET", path, query, headers)
                spent.setdefault(path, []).append(1e6 * (time.process_time() - started) / calls)
    for path, values in spent.items():
        print(
            f"{path:22} {min(values):6.1f} µs CPU per cached answer (rounds: "
            f"{', '.join(f'{v:.0f}' for v in values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(measure(args.database_url, calls=args.calls, rounds=args.rounds))


if __name__ == "__main__":
    main()
