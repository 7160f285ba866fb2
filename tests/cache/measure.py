"""Measure (not a test): warm dashboard vs /healthz latency, and the time from a booking's
201 to its visibility in every worker.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/careslot_measure \
        python -m tests.cache.measure --port 8741 [--requests 2000]

against `careslot serve --demo --workers 2 --port 8741` already running on that database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time

import httpx

from careslot.seeding.demo import PASSWORD


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def latency(
    client: httpx.AsyncClient,
    path: str,
    n: int,
    concurrency: int = 4,
) -> list[float]:
    samples: list[float] = []

    async def worker() -> None:
        while len(samples) < n:
            started = time.perf_counter()
            r = await client.get(path)
            samples.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


async def visibility(url: str, token: str, rounds: int) -> tuple[list[float], int]:
    """Book on one keep-alive connection; read on fresh connections (any worker) until the
    booking shows; return seconds from the 201 to the first read that shows it, and the
    most reads any booking needed (1: the first read after the 201 already saw it)."""
    auth = {"Authorization": f"Bearer {token}"}
    fresh = httpx.Limits(max_keepalive_connections=0)
    out: list[float] = []
    most_reads = 0
    async with (
        httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as writer,
        httpx.AsyncClient(base_url=url, headers=auth, timeout=30, limits=fresh) as reader,
    ):
        doctors = (await writer.get("/api/doctors")).json()
        day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
        starts: list[tuple[int, str]] = []
        for doctor in doctors:
            slots = (
                await writer.get(
                    "/api/slots",
                    params={
                        "doctorId": doctor["id"],
                        "from": day.isoformat(),
                        "to": (day + dt.timedelta(days=20)).isoformat(),
                    },
                )
            ).json()["slots"]
            starts += [(s["doctorId"], s["start"]) for s in slots[::7]]
        seen = (await reader.get("/api/dashboard/stats")).json()["data"]["upcomingCount"]
        for doctor_id, start in starts[:rounds]:
            await reader.get("/api/dashboard/stats")  # warm in some worker
            r = await writer.post("/api/appointments", json={"doctorId": doctor_id, "start": start})
            if r.status_code != 201:
                continue
            done = time.perf_counter()
            booked_id = r.json()["id"]
            reads = 0
            while True:
                reads += 1
                stats = (await reader.get("/api/dashboard/stats")).json()["data"]
                if stats["upcomingCount"] == seen + 1:
                    break
            out.append(time.perf_counter() - done)
            most_reads = max(most_reads, reads)
            await writer.patch(f"/api/appointments/{booked_id}", json={"status": "cancelled"})
    return out, most_reads


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8741)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        r = await c.post(
            "/api/auth/login", json={"email": "patient2@demo.careslot", "password": PASSWORD}
        )
        token = r.json()["token"]
        c.headers["Authorization"] = f"Bearer {token}"
        await latency(c, "/api/dashboard/stats", 200)  # warm
        health = await latency(c, "/healthz", args.requests)
        board = await latency(c, "/api/dashboard/stats", args.requests)
    print(f"/healthz          p50 {pct(health, 0.5):.2f} ms  p99 {pct(health, 0.99):.2f} ms")
    print(f"dashboard (warm)  p50 {pct(board, 0.5):.2f} ms  p99 {pct(board, 0.99):.2f} ms")
    print(f"ratio p50 dashboard/healthz {pct(board, 0.5) / pct(health, 0.5):.2f}")
    seen, reads = await visibility(url, token, args.rounds)
    print(
        f"201 -> visible on a fresh connection: n={len(seen)} "
        f"median {statistics.median(seen) * 1000:.2f} ms  max {max(seen) * 1000:.2f} ms "
        f"(reads needed: at most {reads})"
    )


if __name__ == "__main__":
    asyncio.run(main())
