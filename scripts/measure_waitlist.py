"""Waitlist figures against a running careslot: offer latency, and what it costs bookings.

    export DATABASE_URL=postgresql://…/careslot_measure
    careslot seed --appointments 100000                      # once, into its own database
    CARESLOT_SMTP_URL=smtp://127.0.0.1:8025 CARESLOT_REGISTRATIONS_PER_ADDRESS=0 \\
        careslot serve &                                     # mail to this script's sink
    python scripts/measure_waitlist.py http://127.0.0.1:8000 --sink-port 8025

Starts an SMTP sink (aiosmtpd) in this process on --sink-port, then:
  offer:  --offers rounds, one after another: patient A books a free slot, patient B joins
          the waitlist for that doctor and day, A cancels; the time from the cancellation's
          answer (its transaction has committed) to the `waitlist_offer` mail for B arriving
          at the sink, and from the cancellation being sent;
  cost:   --cost rounds of a booking and its cancellation by one patient, each request
          timed, with --waiting entries on the waitlist (of other days, so the trigger
          records every freed slot and the sweeper looks, but offers nothing). Run it once
          against a server with CARESLOT_WAITLIST=on and once with =off to compare.
  hook:   --hook N (with --database-url): what the waitlist adds inside those transactions,
          without the HTTP noise: book_appointment (the booking's one statement) with its
          waitlist step on and off, and a cancellation's UPDATE with the freed-slot trigger
          against the same UPDATE with triggers off (session_replication_role = replica),
          each in a transaction rolled back, N times, on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiosmtpd.controller import Controller

PASSWORD = "measure-the-waitlist"  # noqa: S105 - accounts this script makes
_names = itertools.count()


class Sink:
    """Arrival time of the first waitlist offer per recipient."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        if b"A slot is free for you" in envelope.content:
            with self.changed:
                for rcpt in envelope.rcpt_tos:
                    self.arrived.setdefault(rcpt.lower(), at)
                self.changed.notify_all()
        return "250 OK"

    def wait_for(self, address: str, timeout: float = 30) -> float:
        with self.changed:
            self.changed.wait_for(lambda: address.lower() in self.arrived, timeout)
            return self.arrived.get(address.lower(), float("nan"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:28} n={len(values)} p50={pct(values, 50):.1f} ms "
        f"p95={pct(values, 95):.1f} ms max={max(values):.1f} ms"
    )


async def patient(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"wl{os.getpid()}-{next(_names)}@measure.careslot"
    r = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Measure"}
    )
    r.raise_for_status()
    return email, {"Authorization": f"Bearer {r.json()['token']}"}


async def free_slot(
    client: httpx.AsyncClient, rng: random.Random, doctor_ids: list[int]
) -> dict[str, Any]:
    for _ in range(50):
        day = datetime.now(UTC).date() + timedelta(days=rng.randint(3, 60))
        slots = (
            await client.get(
                "/api/slots", params={"doctorId": rng.choice(doctor_ids), "date": day.isoformat()}
            )
        ).json()["slots"]
        if slots:
            found: dict[str, Any] = rng.choice(slots)
            return found
    raise RuntimeError("no free slot found")


def day_of(slot: dict[str, Any]) -> date:
    return datetime.fromisoformat(slot["start"]).date()  # UTC days: fine for the default zone


async def offers(base: str, sink: Sink, *, rounds: int) -> None:
    rng = random.Random()
    after_answer: list[float] = []
    after_send: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        doctor_ids = [d["id"] for d in (await client.get("/api/doctors")).json()]
        for _ in range(rounds):
            _, booker = await patient(client)
            waiter_email, waiter = await patient(client)
            slot = await free_slot(client, rng, doctor_ids)
            r = await client.post(
                "/api/appointments",
                json={"doctorId": slot["doctorId"], "start": slot["start"]},
                headers=booker,
            )
            if r.status_code != 201:
                continue
            appointment_id = r.json()["id"]
            day = day_of(slot).isoformat()
            r = await client.post(
                "/api/waitlist",
                json={"doctorId": slot["doctorId"], "from": day, "to": day},
                headers=waiter,
            )
            r.raise_for_status()
            sent = time.perf_counter()
            r = await client.patch(
                f"/api/appointments/{appointment_id}", json={"status": "cancelled"}, headers=booker
            )
            answered = time.perf_counter()
            r.raise_for_status()
            arrived = await asyncio.to_thread(sink.wait_for, waiter_email)
            after_answer.append((arrived - answered) * 1000)
            after_send.append((arrived - sent) * 1000)
    print(summary("cancel answered -> offer mail", after_answer))
    print(summary("cancel sent -> offer mail", after_send))


async def cost(base: str, *, rounds: int, waiting: int) -> None:
    rng = random.Random()
    booking: list[float] = []
    cancelling: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        doctor_ids = [d["id"] for d in (await client.get("/api/doctors")).json()]
        far = (datetime.now(UTC).date() + timedelta(days=80)).isoformat()
        for _ in range(waiting):  # entries for a day no round books: nothing is offered
            _, waiter = await patient(client)
            r = await client.post(
                "/api/waitlist",
                json={"doctorId": rng.choice(doctor_ids), "from": far, "to": far},
                headers=waiter,
            )
            r.raise_for_status()
        _, booker = await patient(client)
        for _ in range(rounds):
            slot = await free_slot(client, rng, doctor_ids)
            began = time.perf_counter()
            r = await client.post(
                "/api/appointments",
                json={"doctorId": slot["doctorId"], "start": slot["start"]},
                headers=booker,
            )
            booked = time.perf_counter()
            if r.status_code != 201:
                continue
            r = await client.patch(
                f"/api/appointments/{r.json()['id']}", json={"status": "cancelled"}, headers=booker
            )
            cancelled = time.perf_counter()
            r.raise_for_status()
            booking.append((booked - began) * 1000)
            cancelling.append((cancelled - booked) * 1000)
    print(summary("POST /api/appointments", booking))
    print(summary("PATCH cancel", cancelling))


async def hook(database_url: str, *, calls: int) -> None:
    import asyncpg

    from careslot.scheduling.admin_repository import SCHEDULE_LOCK

    conn = await asyncpg.connect(database_url)
    try:
        patient = await conn.fetchval(
            """select u.id from users u where u.role = 'patient' and u.is_active
                 and (select count(*) from appointments a where a.client_id = u.id
                        and a.starts_at > now()) < 5 order by u.id limit 1"""
        )
        doctors = await conn.fetch(
            "select id, department_id from doctors where is_active order by id limit 20"
        )
        rows = await conn.fetch(
            "select id from appointments where status = 'scheduled' and starts_at > now() "
            "order by id desc limit $1",
            calls,
        )
        catalog = await conn.fetchval("select version from catalog_version")
        waiting = await conn.fetchval(
            "select count(*) from waitlist_entries where status = 'waiting'"
        )
        # A time nobody books (03:17, 80 days out): the same one each time, rolled back.
        when = datetime.now(UTC).replace(hour=3, minute=17, second=0, microsecond=0)
        when += timedelta(days=80)
        timed: dict[str, list[float]] = {
            "book, waitlist on": [],
            "book, waitlist off": [],
            "cancel, trigger on": [],
            "cancel, trigger off": [],
        }
        # One kind at a time: setting session_replication_role discards every cached plan,
        # which the next statement of any kind would pay for.
        for name, values in timed.items():
            for n, r in enumerate(rows):
                doctor = doctors[n % len(doctors)]
                transaction = conn.transaction()
                await transaction.start()
                if name == "cancel, trigger off":
                    await conn.execute("set local session_replication_role = replica")
                began = time.perf_counter()
                if name.startswith("book"):
                    await conn.fetchrow(
                        "select * from book_appointment($1, $1, $2, $3, $4, $5, 0, 0, null, "
                        "'', 'measure', null, null, 10, $6, '{}', $7, $8, $9)",
                        patient,
                        doctor["id"],
                        doctor["department_id"],
                        when,
                        when + timedelta(minutes=30),
                        datetime.now(UTC),
                        catalog,
                        SCHEDULE_LOCK,
                        name.endswith("on"),
                    )
                else:
                    await conn.execute(
                        "update appointments set status = 'cancelled', updated_at = now() "
                        "where id = $1",
                        r["id"],
                    )
                values.append((time.perf_counter() - began) * 1000)
                await transaction.rollback()
    finally:
        await conn.close()
    print(f"hook ({waiting} entries waiting), each in a transaction rolled back:")
    for name, values in timed.items():
        print(
            f"  {name:20} n={len(values)} p50={pct(values, 50):.3f} ms p95={pct(values, 95):.3f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--sink-port", type=int, default=8025)
    parser.add_argument("--offers", type=int, default=50)
    parser.add_argument("--cost", type=int, default=0)
    parser.add_argument("--waiting", type=int, default=20)
    parser.add_argument("--hook", type=int, default=0)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    base = args.url.rstrip("/")
    if args.hook:
        asyncio.run(hook(args.database_url, calls=args.hook))
        return
    if args.cost:
        asyncio.run(cost(base, rounds=args.cost, waiting=args.waiting))
        return
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=args.sink_port)
    controller.start()
    try:
        asyncio.run(offers(base, sink, rounds=args.offers))
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
