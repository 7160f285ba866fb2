"""Mail latency and outbox drain rate against a running careslot on a seeded database.

    careslot seed --appointments 100000                       # once, into its own database
    CARESLOT_SMTP_URL=smtp://127.0.0.1:8025 careslot serve &  # mail to this script's sink
    python scripts/measure_messages.py http://127.0.0.1:8000 --sink-port 8025

Starts an SMTP sink (aiosmtpd) in this process on --sink-port, then:
  latency: seeded patients book one free slot each, one after another; for each, the time
           from the booking's 201 (its transaction has committed) to the confirmation
           arriving at the sink, and from the request being sent;
  hook:    --hook calls of what a booking adds to its transaction (the outbox write: mail,
           two reminders, webhook rows, NOTIFY), each in a transaction rolled back;
  booking: --booking N bookings (book_appointment, the booking's one statement) with the
           outbox write and with it replaced by a no-op (inside the measuring transaction,
           rolled back), in alternating blocks: what the outbox adds to a booking;
  drain:   --drain rows put straight into the outbox in one transaction (due now), and the
           time from that commit to the last one arriving: messages per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiosmtpd.controller import Controller

SEED_PASSWORD = "careslot-seed"  # noqa: S105 - the seeder's published password


class Sink:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        with self.changed:
            for rcpt in envelope.rcpt_tos:
                self.arrived.setdefault(rcpt.lower(), at)
            self.changed.notify_all()
        return "250 OK"

    def wait_for(self, address: str, timeout: float = 30) -> float:
        with self.changed:
            self.changed.wait_for(lambda: address.lower() in self.arrived, timeout)
            return self.arrived.get(address.lower(), float("nan"))

    def wait_count(self, suffix: str, count: int, timeout: float = 300) -> float:
        def done() -> bool:
            return sum(1 for a in self.arrived if a.endswith(suffix)) >= count

        with self.changed:
            self.changed.wait_for(done, timeout)
            return max(at for a, at in self.arrived.items() if a.endswith(suffix))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def latency(base: str, sink: Sink, *, bookings: int, patients: int) -> None:
    rng = random.Random()
    after_201: list[float] = []
    after_send: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        doctor_ids = [d["id"] for d in (await client.get("/api/doctors")).json()]
        for n in rng.sample(range(1, patients + 1), bookings):
            email = f"patient{n}@seed.careslot"
            r = await client.post(
                "/api/auth/login", json={"email": email, "password": SEED_PASSWORD}
            )
            token = r.json()["token"]
            for _ in range(20):
                first = datetime.now(UTC).date() + timedelta(days=rng.randint(3, 60))
                slots = (
                    await client.get(
                        "/api/slots",
                        params={"doctorId": rng.choice(doctor_ids), "date": first.isoformat()},
                    )
                ).json()["slots"]
                if slots:
                    break
            slot = rng.choice(slots)
            sent = time.perf_counter()
            r = await client.post(
                "/api/appointments",
                json={"doctorId": slot["doctorId"], "start": slot["start"]},
                headers={"Authorization": f"Bearer {token}"},
            )
            answered = time.perf_counter()
            if r.status_code != 201:
                continue
            arrived = await asyncio.to_thread(sink.wait_for, email)
            after_201.append((arrived - answered) * 1000)
            after_send.append((arrived - sent) * 1000)
    for name, values in (("201 -> mail at sink", after_201), ("request -> mail", after_send)):
        print(
            f"{name:22} n={len(values)} p50={pct(values, 50):.1f} ms "
            f"p95={pct(values, 95):.1f} ms max={max(values):.1f} ms"
        )


async def drain(database_url: str, sink: Sink, *, count: int) -> None:
    suffix = f"@drain{os.getpid()}.measure"
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                """insert into outbox (channel, template, appointment_id, recipient, payload,
                                       due_at, next_attempt_at, sequence)
                   select 'email', 'booked', o.appointment_id, 'm' || g || $2, o.payload,
                          now(), now(), 0
                     from generate_series(1, $1) g,
                          (select appointment_id, payload from outbox
                            where template = 'booked' order by id desc limit 1) o""",
                count,
                suffix,
            )
            await conn.execute("select pg_notify('careslot_outbox', '')")
        committed = time.perf_counter()
    finally:
        await conn.close()
    last = await asyncio.to_thread(sink.wait_count, suffix, count)
    seconds = last - committed
    print(f"drain: {count} messages in {seconds:.2f} s = {count / seconds:.0f} messages/s")


async def hook(database_url: str, *, calls: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # A different appointment each time, as bookings are (one appointment called over
        # and over would measure its own pile of rolled-back rows instead).
        appointment_ids = [
            r["id"]
            for r in await conn.fetch(
                "select id from appointments where status = 'scheduled' and starts_at > now() "
                "order by id desc limit $1",
                calls,
            )
        ]
        offsets = [timedelta(hours=48), timedelta(hours=2)]
        millis = []
        for appointment_id in appointment_ids:
            transaction = conn.transaction()
            await transaction.start()
            began = time.perf_counter()
            await conn.execute(
                "select outbox_appointment_changed($1, 'booked', now(), $2)",
                appointment_id,
                offsets,
            )
            millis.append((time.perf_counter() - began) * 1000)
            await transaction.rollback()  # drop what it wrote
    finally:
        await conn.close()
    print(
        f"hook: n={len(millis)} p50={pct(millis, 50):.3f} ms p95={pct(millis, 95):.3f} ms "
        f"(one round trip on loopback, inside the booking's transaction)"
    )


NO_OUTBOX = """create or replace function outbox_appointment_changed(
    p_appointment bigint, p_event text, p_now timestamptz, p_reminders interval[]
) returns void language plpgsql as $$ begin end $$"""


async def booking(database_url: str, *, calls: int, block: int = 100) -> None:
    from careslot.scheduling.admin_repository import SCHEDULE_LOCK

    conn = await asyncpg.connect(database_url)
    try:
        patients = [
            r["id"]
            for r in await conn.fetch(
                "select id from users where role = 'patient' and is_active order by id limit 200"
            )
        ]
        doctors = await conn.fetch(
            "select id, department_id from doctors where is_active order by id limit 20"
        )
        catalog = await conn.fetchval("select version from catalog_version")
        # Times nobody books (03:17 local days 60-89 out): each call its own, rolled back.
        base = datetime.now(UTC).replace(hour=3, minute=17, second=0, microsecond=0)
        timed: dict[str, list[float]] = {"outbox on": [], "outbox off": []}
        n = 0
        while len(timed["outbox off"]) < calls:
            for name, values in timed.items():
                outer = conn.transaction()  # the no-op stands in only inside it
                await outer.start()
                if name == "outbox off":
                    await conn.execute(NO_OUTBOX)
                for _ in range(block):
                    n += 1
                    doctor = doctors[n % len(doctors)]
                    when = base + timedelta(days=60 + n % 30, minutes=30 * (n // 30 % 6))
                    inner = conn.transaction()
                    await inner.start()
                    began = time.perf_counter()
                    await conn.fetchrow(
                        "select * from book_appointment($1, $1, $2, $3, $4, $5, 0, 0, null, "
                        "'', 'measure', null, null, 1000000, $6, $7, $8, $9, false)",
                        patients[n % len(patients)],
                        doctor["id"],
                        doctor["department_id"],
                        when,
                        when + timedelta(minutes=30),
                        datetime.now(UTC),
                        [timedelta(hours=48), timedelta(hours=2)],
                        catalog,
                        SCHEDULE_LOCK,
                    )
                    values.append((time.perf_counter() - began) * 1000)
                    await inner.rollback()
                await outer.rollback()
    finally:
        await conn.close()
    on, off = timed["outbox on"], timed["outbox off"]
    print(f"booking, one statement, n={len(on)} each (alternating blocks of {block}):")
    for name, values in timed.items():
        print(f"  {name:10} p50={pct(values, 50):.3f} ms p95={pct(values, 95):.3f} ms")
    print(f"  the outbox adds {pct(on, 50) - pct(off, 50):.3f} ms at p50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--sink-port", type=int, default=8025)
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--drain", type=int, default=2000)
    parser.add_argument("--hook", type=int, default=0)
    parser.add_argument("--booking", type=int, default=0)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if args.hook:
        asyncio.run(hook(args.database_url, calls=args.hook))
        return
    if args.booking:
        asyncio.run(booking(args.database_url, calls=args.booking))
        return
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=args.sink_port)
    controller.start()
    try:
        asyncio.run(
            latency(args.url.rstrip("/"), sink, bookings=args.bookings, patients=args.patients)
        )
        if args.drain and args.database_url:
            asyncio.run(drain(args.database_url, sink, count=args.drain))
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
