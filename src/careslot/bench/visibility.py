"""Write-to-visible: book through one connection, then read through fresh ones, in rounds.

With `--workers N` each worker listens on a socket of its own, and the kernel deals each new
connection to one of them by its addresses (serving.py: WorkerPort); under granian the
workers share one socket, and an idle server tends to hand sequential connections to the
same one. So every round opens N+1 fresh connections at the same moment (`Connection:
close`), which reach the workers at random (under uvicorn) or while one worker is busy with a
read (under granian). Before each booking, a round of reads lets the
workers cache the old slot list and dashboard. A booking is visible when a whole round
shows it (slot gone from the free list and the dashboard counting it); any read after the
201 that still shows the old answer is counted as stale.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from careslot.bench.population import BOOKING_REASON, Population

GIVE_UP_S = 2.0


@dataclass(frozen=True, slots=True)
class Probe:
    base_url: str
    token: str
    doctor_id: int
    start: dt.datetime
    day: dt.date

    def read(self, client: httpx.Client) -> tuple[bool, int]:
        """(slot still offered, patient's upcomingCount), each on a new connection."""
        slots = client.get(
            "/api/slots", params={"doctorId": self.doctor_id, "date": self.day.isoformat()}
        )
        slots.raise_for_status()
        offered = any(
            dt.datetime.fromisoformat(s["start"]) == self.start for s in slots.json()["slots"]
        )
        stats = client.get(
            "/api/dashboard/stats", headers={"Authorization": f"Bearer {self.token}"}
        )
        stats.raise_for_status()
        return offered, int(stats.json()["data"]["upcomingCount"])


def _fresh_connections(base_url: str) -> httpx.Client:
    """A client that keeps no connection: every request opens a new one, and the server
    closes it after answering (`Connection: close`)."""
    return httpx.Client(
        base_url=base_url,
        timeout=5.0,
        headers={"Connection": "close"},
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _round(
    pool: ThreadPoolExecutor,
    probe: Probe,
    clients: list[httpx.Client],
) -> list[tuple[bool, int]]:
    return list(pool.map(probe.read, clients))


def measure(
    base_url: str, population: Population, *, workers: int, zone: dt.tzinfo, tries: int = 20
) -> dict[str, Any]:
    """Milliseconds from the booking's 201 to the end of the first round of fresh reads
    that all show it, and how many reads after the 201 were stale."""
    visible_ms: list[float] = []
    stale_reads = reads_after = first_round_fresh = 0
    failures: list[dict[str, Any]] = []
    candidates = list(reversed(population.slots))  # the mixed run books from the front
    patients = list(reversed(population.patients))  # the least active: few live bookings
    width = workers + 1
    attempt = 0
    clients = [_fresh_connections(base_url) for _ in range(width)]
    with (
        httpx.Client(base_url=base_url, timeout=5.0) as booker,
        ThreadPoolExecutor(max_workers=width) as pool,
    ):
        while len(visible_ms) < tries and candidates and attempt < tries * 5:
            attempt += 1
            doctor_id, start_text = candidates.pop()
            patient = patients[attempt % len(patients)]
            start = dt.datetime.fromisoformat(start_text)
            probe = Probe(
                base_url, patient["token"], doctor_id, start, start.astimezone(zone).date()
            )
            warm = _round(pool, probe, clients)  # every worker caches the old answers
            if not all(offered for offered, _ in warm):
                continue
            before = max(count for _, count in warm)
            auth = {"Authorization": f"Bearer {patient['token']}"}
            booked = booker.post(
                "/api/appointments",
                headers={**auth, "Idempotency-Key": f"visible-{uuid.uuid4()}"},
                json={"doctorId": doctor_id, "start": start_text, "reason": BOOKING_REASON},
            )
            if booked.status_code != 201:
                continue  # taken meanwhile, or this patient is at the booking limit
            committed = time.perf_counter()
            rounds = 0
            seen_at = None
            while time.perf_counter() - committed < GIVE_UP_S:
                rounds += 1
                answers = _round(pool, probe, clients)
                stale = sum(offered or count != before + 1 for offered, count in answers)
                stale_reads += stale
                reads_after += len(answers)
                if stale == 0:
                    seen_at = time.perf_counter() - committed
                    break
            first_round_fresh += seen_at is not None and rounds == 1
            if seen_at is None:
                failures.append({"upcoming_before": before, "last_round": answers})
            visible_ms.append(1000 * (seen_at if seen_at is not None else GIVE_UP_S))
            booker.patch(
                f"/api/appointments/{booked.json()['id']}",
                headers=auth,
                json={"status": "cancelled"},
            )
    for client in clients:
        client.close()
    return {
        "tries": len(visible_ms),
        "reads_per_round": width,
        "first_round_all_fresh": first_round_fresh,
        "stale_reads_after_201": stale_reads,
        "reads_after_201": reads_after,
        "not_visible_within_2s": len(failures),
        "failures": failures[:5],
        "p50_ms": round(statistics.median(visible_ms), 2) if visible_ms else None,
        "max_ms": round(max(visible_ms), 2) if visible_ms else None,
        "method": f"201 received → end of the first round of {width} simultaneous reads on "
        "fresh connections (slot list, then dashboard, on each) that all show the "
        "booking; a round costs two requests' latency, so the figure includes it",
    }
