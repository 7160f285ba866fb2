"""Two figures for issue 10, against a running careslot (see README, "Running the hospital").

    careslot users create --email admin@m.careslot --password measure-admin --role admin
    CARESLOT_EXPOSE_WORKER=true careslot serve --workers 2 &
    python scripts/measure_schedules.py slots http://127.0.0.1:8000 --requests 400
    python scripts/measure_schedules.py visibility http://127.0.0.1:8000 --rounds 30

slots: GET /api/slots for one doctor and one day, with and without `typeId` (a type of the
doctor's department with buffers, created here), interleaved in random order over random
doctors and days, one request at a time; p50/p95 of each.

visibility: PUT /api/doctors/{id}/working-hours, then at once 24 GETs of that doctor's slots
on fresh connections (so both workers answer); for each worker the first answer showing the
new hours, and the time from sending the PUT to the latest of those (every worker serves the
new slots by then); and how many answers were stale (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

READS = 24  # default --reads


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    client.headers["Authorization"] = f"Bearer {r.json()['token']}"


async def typed(client: httpx.AsyncClient, department_id: int) -> int:
    """An active type with buffers in the department (made once, reused afterwards)."""
    found = await client.get("/api/appointment-types", params={"departmentId": department_id})
    for kind in found.json()["items"]:
        if kind["name"] == "Measured visit" and kind["active"]:
            return int(kind["id"])
    r = await client.post(
        "/api/appointment-types",
        json={
            "departmentId": department_id,
            "name": "Measured visit",
            "minutes": 20,
            "bufferBeforeMinutes": 5,
            "bufferAfterMinutes": 10,
        },
    )
    r.raise_for_status()
    return int(r.json()["id"])


async def measure_slots(url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await sign_in(client, args.email, args.password)
        doctors = (await client.get("/api/doctors")).json()
        picked = rng.sample(doctors, min(args.doctors, len(doctors)))
        types = {d["departmentId"]: await typed(client, d["departmentId"]) for d in picked}
        timings: dict[str, list[float]] = {"without typeId": [], "with typeId": []}
        counts: dict[str, int] = {"without typeId": 0, "with typeId": 0}
        jobs = []
        for _ in range(args.requests):
            doctor = rng.choice(picked)
            day = datetime.now(UTC).date() + timedelta(days=rng.randint(1, 28))
            jobs.append(("without typeId", doctor, day, None))
            jobs.append(("with typeId", doctor, day, types[doctor["departmentId"]]))
        rng.shuffle(jobs)
        anonymous = httpx.AsyncClient(base_url=url, timeout=30)
        for name, doctor, day, type_id in jobs:
            params: dict[str, Any] = {"doctorId": doctor["id"], "date": day.isoformat()}
            if type_id is not None:
                params["typeId"] = type_id
            began = time.perf_counter()
            r = await anonymous.get("/api/slots", params=params)
            timings[name].append((time.perf_counter() - began) * 1000)
            r.raise_for_status()
            counts[name] += len(r.json()["slots"])
        await anonymous.aclose()
    return {
        name: {
            "n": len(ms),
            "p50_ms": pct(ms, 50),
            "p95_ms": pct(ms, 95),
            "mean_ms": round(statistics.fmean(ms), 2),
            "slots_per_answer": round(counts[name] / len(ms), 1),
        }
        for name, ms in timings.items()
    }


def week(start: str, end: str) -> dict[str, Any]:
    return {"items": [{"weekday": d, "start": start, "end": end} for d in range(1, 8)]}


async def fresh_reads(
    url: str, doctor_id: int, day: date, began: float = 0.0, reads: int = READS
) -> list[tuple[str | None, str, float]]:
    """READS answers, each on a new connection (any worker): the first slot's start, the
    worker that answered (X-Careslot-Worker, with CARESLOT_EXPOSE_WORKER=true) and when the
    answer arrived, in ms after `began`."""
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    params = {"doctorId": doctor_id, "date": day.isoformat()}
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=no_reuse) as c:

        async def one() -> tuple[str | None, str, float]:
            a = await c.get("/api/slots", params=params)
            done = (time.perf_counter() - began) * 1000
            first = (a.json()["slots"] or [{"start": None}])[0]["start"]
            return first, a.headers.get("x-careslot-worker", "?"), done

        return list(await asyncio.gather(*(one() for _ in range(reads))))


async def empty_doctor(client: httpx.AsyncClient) -> int:
    """A doctor of its own (no appointments), so the first free slot is the window's start;
    deactivated again at the end."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    r = await client.post("/api/departments", json={"name": f"Measured {stamp}"})
    r.raise_for_status()
    r = await client.post(
        "/api/doctors", json={"name": f"Dr. Measured {stamp}", "departmentId": r.json()["id"]}
    )
    r.raise_for_status()
    return int(r.json()["id"])


async def measure_visibility(url: str, args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await sign_in(client, args.email, args.password)
        doctor = await empty_doctor(client)
        day = datetime.now(UTC).date() + timedelta(days=3)
        put_ms, visible_ms, stale, workers = [], [], 0, set()
        for i in range(args.rounds):
            hour = 9 + i % 2  # alternate 09:00 and 10:00 starts
            expected = datetime.combine(day, datetime.min.time()).replace(hour=hour)
            await fresh_reads(url, doctor, day)  # every worker holds the old answer
            await fresh_reads(url, doctor, day)
            began = time.perf_counter()
            r = await client.put(
                f"/api/doctors/{doctor}/working-hours", json=week(f"{hour:02d}:00", "12:00")
            )
            r.raise_for_status()
            put_ms.append((time.perf_counter() - began) * 1000)
            first_fresh: dict[str, float] = {}
            for first, worker, done in await fresh_reads(url, doctor, day, began, args.reads):
                seen = datetime.fromisoformat(first) if first else None
                if seen is None or seen.replace(tzinfo=None) != expected:
                    stale += 1
                else:
                    first_fresh[worker] = min(done, first_fresh.get(worker, done))
            workers |= first_fresh.keys()
            # When the last worker was first seen serving the new hours.
            visible_ms.append(max(first_fresh.values()))
        r = await client.patch(f"/api/doctors/{doctor}", json={"isActive": False})
        r.raise_for_status()
    return {
        "rounds": args.rounds,
        "reads_per_round": args.reads,
        "put_p50_ms": pct(put_ms, 50),
        "put_max_ms": pct(put_ms, 100),
        "put_to_every_worker_p50_ms": pct(visible_ms, 50),
        "put_to_every_worker_max_ms": pct(visible_ms, 100),
        "workers_seen": len(workers),
        "stale_answers": stale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["slots", "visibility"])
    parser.add_argument("url")
    parser.add_argument("--email", default="admin@m.careslot")
    parser.add_argument("--password", default="measure-admin")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--doctors", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--reads", type=int, default=READS)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run = measure_slots if args.what == "slots" else measure_visibility
    print(json.dumps(asyncio.run(run(args.url, args)), indent=2))


if __name__ == "__main__":
    main()
