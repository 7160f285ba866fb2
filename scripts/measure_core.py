"""Latency of the core booking path against a running careslot on a seeded database.

    careslot seed --appointments 1000000          # once, into its own database
    CARESLOT_CACHE=off careslot serve &           # or with the cache on, to compare
    python scripts/measure_core.py http://127.0.0.1:8000

Measures, over loopback with httpx (async, modest concurrency):
  GET  /api/slots  one doctor, one day       (random seeded doctor, random weekday ahead)
  GET  /api/slots  one doctor, 31 days
  POST /api/appointments                      (distinct seeded patients, each one free slot)
and prints p50/p95/p99 per call. Patients are the seeder's patient<n>@seed.careslot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx

SEED_PASSWORD = "careslot-seed"  # noqa: S105 - the seeder's published password


@dataclass
class Series:
    name: str
    millis: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        ordered = sorted(self.millis)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    def row(self) -> dict[str, object]:
        return {
            "call": self.name,
            "n": len(self.millis),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "p99_ms": round(self.pct(99), 2),
            "mean_ms": round(statistics.fmean(self.millis), 2) if self.millis else 0.0,
            "req_per_s": round(len(self.millis) / self.seconds, 1) if self.seconds else 0,
            "statuses": dict(self.statuses),
        }


async def timed(series: Series, call: Awaitable[httpx.Response]) -> httpx.Response:
    began = time.perf_counter()
    response = await call
    series.millis.append((time.perf_counter() - began) * 1000)
    series.statuses[response.status_code] += 1
    return response


async def run_all(jobs: list[Callable[[], Awaitable[object]]], concurrency: int) -> float:
    queue = iter(jobs)
    began = time.perf_counter()

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began


def weekdays_ahead(rng: random.Random, first: int, last: int) -> date:
    while True:
        day = datetime.now(UTC).date() + timedelta(days=rng.randint(first, last))
        if day.isoweekday() <= 5:
            return day


async def measure(
    base: str, *, requests: int, bookings: int, concurrency: int, patients: int, seed: int
) -> list[Series]:
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        doctors = (await client.get("/api/doctors")).json()
        doctor_ids = [
            d["id"]
            for d in (
                doctors
                if isinstance(doctors, list)
                else doctors.get("items", doctors.get("doctors", []))
            )
        ]
        if not doctor_ids:
            sys.exit("no doctors: seed the database first (careslot seed)")
        for _ in range(5):  # warm the connection pool and the code paths
            await client.get(
                "/api/slots",
                params={"doctorId": rng.choice(doctor_ids), "date": weekdays_ahead(rng, 2, 60)},
            )

        one_day = Series("GET /api/slots 1 doctor 1 day")
        month = Series("GET /api/slots 1 doctor 31 days")

        def slots_day() -> Awaitable[object]:
            params = {
                "doctorId": rng.choice(doctor_ids),
                "date": weekdays_ahead(rng, 1, 60).isoformat(),
            }
            return timed(one_day, client.get("/api/slots", params=params))

        def slots_month() -> Awaitable[object]:
            first = datetime.now(UTC).date() + timedelta(days=rng.randint(1, 55))
            params = {
                "doctorId": rng.choice(doctor_ids),
                "from": first.isoformat(),
                "to": (first + timedelta(days=30)).isoformat(),
            }
            return timed(month, client.get("/api/slots", params=params))

        one_day.seconds = await run_all([slots_day] * requests, concurrency)
        month.seconds = await run_all([slots_month] * requests, concurrency)

        book = await booking_series(
            client,
            rng,
            doctor_ids=doctor_ids,
            bookings=bookings,
            concurrency=concurrency,
            patients=patients,
        )
    return [one_day, month, book]


async def booking_series(
    client: httpx.AsyncClient,
    rng: random.Random,
    *,
    doctor_ids: list[int],
    bookings: int,
    concurrency: int,
    patients: int,
) -> Series:
    """Distinct patients each book a distinct free slot (so nothing collides by design)."""
    numbers = rng.sample(range(1, patients + 1), bookings)
    tokens: list[str] = []

    async def sign_in(n: int) -> None:
        r = await client.post(
            "/api/auth/login",
            json={"email": f"patient{n}@seed.careslot", "password": SEED_PASSWORD},
        )
        if r.status_code == 200:
            tokens.append(r.json()["token"])

    await run_all([lambda n=n: sign_in(n) for n in numbers], concurrency)
    if not tokens:
        sys.exit("no seeded patient could sign in (patient<n>@seed.careslot)")
    free: list[tuple[int, str]] = []
    for doctor_id in rng.sample(doctor_ids, min(len(doctor_ids), 40)):
        first = datetime.now(UTC).date() + timedelta(days=rng.randint(3, 50))
        r = await client.get(
            "/api/slots",
            params={
                "doctorId": doctor_id,
                "from": first.isoformat(),
                "to": (first + timedelta(days=6)).isoformat(),
            },
        )
        free += [(doctor_id, s["start"]) for s in r.json()["slots"]]
        if len(free) >= 4 * len(tokens):
            break
    picks = rng.sample(free, min(len(free), len(tokens)))
    series = Series("POST /api/appointments")

    def booking(token: str, doctor_id: int, start: str) -> Callable[[], Awaitable[object]]:
        return lambda: timed(
            series,
            client.post(
                "/api/appointments",
                json={"doctorId": doctor_id, "start": start, "reason": "measure_core"},
                headers={"Authorization": f"Bearer {token}"},
            ),
        )

    series.seconds = await run_all(
        [booking(t, d, s) for t, (d, s) in zip(tokens, picks, strict=False)], concurrency
    )
    return series


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"{'call':34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}  statuses")
    for r in rows:
        print(
            f"{r['call']!s:34} {r['n']:>5} {r['p50_ms']:>8} {r['p95_ms']:>8} "
            f"{r['p99_ms']:>8} {r['req_per_s']:>7}  {r['statuses']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=500, help="per slots measurement")
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--patients",
        type=int,
        default=100_000,
        help="how many patient<n>@seed.careslot the seeder made",
    )
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh one")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    series = asyncio.run(
        measure(
            args.url.rstrip("/"),
            requests=args.requests,
            bookings=args.bookings,
            concurrency=args.concurrency,
            patients=args.patients,
            seed=seed,
        )
    )
    rows = [s.row() for s in series]
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"url": args.url, "seed": seed, "concurrency": args.concurrency, "results": rows},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
