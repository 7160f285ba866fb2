"""What a person does in the browser, step by step, shared by the web tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

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


def appointment_today(
    live: LiveServer, email: str = "patient@demo.careslot", doctor: str = "Dr. Amara Okafor"
) -> int:
    """Today's appointment at the desk's board, whatever the day and hour the test runs at,
    made through the API as a hospital would: the doctor's hours today become 00:00-04:00
    (schedule API), and the patient books the first slot with the clock moved back to the
    start of the day (the booking rules refuse a time already past). The clock then comes
    back. Plain HTTP: Playwright's sync API keeps an event loop running in this thread."""
    zone = live.settings.zone
    now = live.clock.now()
    day = clock.today(zone, now)
    admin = live.login("admin@demo.careslot")
    with live.client(admin) as c:
        doctor_id = next(d["id"] for d in c.get("/api/doctors").json() if d["name"] == doctor)
        hours = c.get(f"/api/doctors/{doctor_id}/working-hours")
        assert hours.status_code == 200, hours.text
        windows = [w for w in hours.json()["items"] if w["weekday"] != day.isoweekday()]
        windows.append({"weekday": day.isoweekday(), "start": "00:00", "end": "04:00"})
        r = c.put(f"/api/doctors/{doctor_id}/working-hours", json={"items": windows})
        assert r.status_code == 200, r.text
    back = now - clock.day_start(day, zone)
    live.clock.move(-back)
    try:
        with live.client(live.login(email)) as c:
            r = c.get("/api/slots", params={"doctorId": doctor_id, "date": day.isoformat()})
            assert r.status_code == 200, r.text
            first = r.json()["slots"][0]["start"]
            r = c.post(
                "/api/appointments",
                json={"doctorId": doctor_id, "start": first, "reason": "Desk test"},
            )
            assert r.status_code == 201, r.text
    finally:
        live.clock.move(back)
    appointment_id: int = r.json()["id"]
    return appointment_id
