"""Write-to-visible: book through one connection, then poll through fresh ones.

Each poll opens a new TCP connection (`Connection: close`), so the kernel hands it to any
of the workers: a worker that cached the slot list or the dashboard before the booking must
already show the booking. Before each try, the slots and the dashboard are read on a few
fresh connections so that every worker holds the old answer in its cache.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from careslot.bench.population import BOOKING_REASON, Population

GIVE_UP_S = 2.0


def _fresh(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=5.0, headers={"Connection": "close"})


def _slot_listed(client: httpx.Client, doctor_id: int, start: dt.datetime,
                 day: dt.date) -> bool:
    answer = client.get("/api/slots", params={"doctorId": doctor_id, "date": day.isoformat()})
    answer.raise_for_status()
    return any(dt.datetime.fromisoformat(s["start"]) == start for s in answer.json()["slots"])


def _upcoming(client: httpx.Client, token: str, seen: list[str] | None = None) -> int:
    answer = client.get("/api/dashboard/stats", headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    count = int(answer.json()["data"]["upcomingCount"])
    if seen is not None:  # what the last poll saw, for the report when a try fails
        seen[:] = [str(count), answer.headers.get("server-timing", "")]
    return count


def _poll(base_url: str, since: float, shows: Callable[[httpx.Client], bool]) -> float | None:
    """Seconds from `since` until a read on a fresh connection shows the booking."""
    while time.perf_counter() - since < GIVE_UP_S:
        with _fresh(base_url) as client:
            if shows(client):
                return time.perf_counter() - since
    return None


def measure(base_url: str, population: Population, *, workers: int, zone: dt.tzinfo,
            tries: int = 20) -> dict[str, Any]:
    """Milliseconds from the booking's 201 until a fresh connection sees it (slot gone from
    the free list, and the patient's dashboard counting it)."""
    slot_ms: list[float] = []
    dashboard_ms: list[float] = []
    failures: list[dict[str, Any]] = []
    candidates = list(reversed(population.slots))  # the mixed run books from the front
    patients = list(reversed(population.patients))  # the least active: few live bookings
    attempt = 0
    with httpx.Client(base_url=base_url, timeout=5.0) as booker:
        while len(slot_ms) < tries and candidates and attempt < tries * 5:
            attempt += 1
            doctor_id, start_text = candidates.pop()
            patient = patients[attempt % len(patients)]
            start = dt.datetime.fromisoformat(start_text)
            day = start.astimezone(zone).date()
            for _ in range(2 * workers):  # let each worker cache the "before" answers
                with _fresh(base_url) as warm:
                    listed = _slot_listed(warm, doctor_id, start, day)
                    before = _upcoming(warm, patient["token"])
            if not listed:
                continue
            auth = {"Authorization": f"Bearer {patient['token']}"}
            booked = booker.post("/api/appointments", headers={
                **auth, "Idempotency-Key": f"visible-{uuid.uuid4()}"},
                json={"doctorId": doctor_id, "start": start_text, "reason": BOOKING_REASON})
            if booked.status_code != 201:
                continue  # taken meanwhile, or this patient is at the booking limit
            committed = time.perf_counter()
            last: list[str] = []
            with ThreadPoolExecutor(max_workers=2) as pollers:  # both polls run side by side
                slot_poll = pollers.submit(
                    _poll, base_url, committed,
                    lambda c: not _slot_listed(c, doctor_id, start, day))  # noqa: B023
                dash_poll = pollers.submit(
                    _poll, base_url, committed,
                    lambda c: _upcoming(c, patient["token"], last) == before + 1)  # noqa: B023
                slot_seen, dash_seen = slot_poll.result(), dash_poll.result()
            if slot_seen is None or dash_seen is None:
                failures.append({"slot_seen": slot_seen is not None,
                                 "dashboard_seen": dash_seen is not None,
                                 "upcoming_before": before, "last_poll": last})
            slot_ms.append(1000 * (slot_seen if slot_seen is not None else GIVE_UP_S))
            dashboard_ms.append(1000 * (dash_seen if dash_seen is not None else GIVE_UP_S))
            booker.patch(f"/api/appointments/{booked.json()['id']}", headers=auth,
                         json={"status": "cancelled"})
    return {"tries": len(slot_ms), "not_visible_within_2s": len(failures),
            "failures": failures[:5],
            "slot": _summary(slot_ms), "dashboard": _summary(dashboard_ms),
            "method": "201 received → first read on a fresh connection (Connection: close) "
                      "that shows it; slot list and dashboard polled side by side; each poll "
                      "is one round trip, so the figure includes one request's latency"}


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "max_ms": None}
    return {"p50_ms": round(statistics.median(values), 2), "max_ms": round(max(values), 2)}
