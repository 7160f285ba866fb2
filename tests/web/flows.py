"""What a person does in the browser, step by step, shared by the web tests."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import psycopg

from careslot import clock
from tests.conftest import LiveServer


def until(page: Any, js: str, timeout: float = 15.0) -> Any:
    """Poll a JS expression until truthy. (wait_for_function would eval() a string, which
    the pages' CSP rightly forbids.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(js)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {js}")
        page.wait_for_timeout(50)


def register(page: Any, name: str) -> str:
    email = f"web-{uuid.uuid4().hex[:10]}@example.org"
    page.goto("/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/dashboard")
    return email


def choose_slot(
    page: Any,
    department: str = "Cardiology",
    doctor: str = "Dr. Amara Okafor",
    nth_day: int = 0,
    nth_slot: int = 0,
) -> str:
    """Walk department -> doctor -> day -> time; returns the time chosen (HH:MM)."""
    page.goto("/book")
    page.get_by_role("link", name=department).click()
    page.get_by_role("link", name=doctor).click()
    page.locator("a.day").nth(nth_day).click()
    page.wait_for_url("**date=*")
    slot = page.locator("a.slot").nth(nth_slot)
    time = str(slot.inner_text()).strip()
    slot.click()
    page.get_by_role("button", name="Book").wait_for()
    return time


def wait_for_worker(page: Any) -> None:
    """Until the service worker controls the page and holds this user's cache."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    until(page, "navigator.serviceWorker.controller !== null")
    until(
        page,
        """caches.keys().then(names => names.includes(
                       'careslot-user-' + document.body.dataset.userId))""",
    )


CACHED_URLS = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    out[name] = (await cache.keys()).map(r => new URL(r.url).pathname + new URL(r.url).search);
  }
  return out;
}"""


def appointment_today(live: LiveServer, email: str = "patient@demo.careslot") -> int:
    """Today's appointment at the desk's board, whatever the hour the test runs at (the
    booking rules would refuse a time that is already past, so it is set up directly)."""
    start = clock.day_start(clock.today(live.settings.zone, live.clock.now()), live.settings.zone)
    start += dt.timedelta(minutes=5)

    # Plain psycopg: Playwright's sync API keeps an event loop running in this thread.
    assert live.settings.database_url is not None
    with psycopg.connect(live.settings.database_url, autocommit=True) as conn:
        row = conn.execute(
            """insert into appointments (client_id, doctor_id, department_id, starts_at,
                                             ends_at, status, reason)
                   select u.id, d.id, d.department_id, %(start)s,
                          %(start)s + interval '30 minutes', 'scheduled', 'Desk test'
                   from users u, doctors d
                   where u.email = %(email)s and d.name = 'Dr. Amara Okafor'
                   returning id""",
            {"email": email, "start": start},
        ).fetchone()
    assert row is not None
    appointment_id: int = row[0]
    return appointment_id
