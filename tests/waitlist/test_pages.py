"""The waitlist in a real browser: join on a fully booked day, see the offer on the
dashboard and /appointments, staff see it at the desk, accept it, and it is booked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from tests.api.helpers import PASSWORD
from tests.conftest import LiveServer
from tests.web.conftest import Pages
from tests.web.flows import register

DOCTOR = "Dr. Amara Okafor"


def _register(client: httpx.Client, n: int) -> str:
    r = client.post(
        "/api/auth/register",
        json={"email": f"filler{n}-{id(client)}@test.careslot", "password": PASSWORD, "name": "F"},
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def fill_a_day(live: LiveServer) -> tuple[dt.date, list[tuple[str, int]]]:
    """Book every free slot of the doctor's first working day from three days out, each by
    a patient of its own, through the API (so every cache hears of it). Returns the day
    and (token, appointment id) per booking."""
    with live.client() as c:
        doctor = next(d["id"] for d in c.get("/api/doctors").json() if d["name"] == DOCTOR)
        first = dt.datetime.now(live.settings.zone).date() + dt.timedelta(days=3)
        slots = c.get(
            "/api/slots",
            params={
                "doctorId": doctor,
                "from": first.isoformat(),
                "to": (first + dt.timedelta(days=7)).isoformat(),
            },
        ).json()["slots"]
        day = dt.datetime.fromisoformat(slots[0]["start"]).astimezone(live.settings.zone).date()
        booked = []
        for n, slot in enumerate(
            s
            for s in slots
            if dt.datetime.fromisoformat(s["start"]).astimezone(live.settings.zone).date() == day
        ):
            token = _register(c, n)
            r = c.post(
                "/api/appointments",
                json={"doctorId": doctor, "start": slot["start"]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            booked.append((token, r.json()["id"]))
    return day, booked


def test_join_on_a_full_day_get_the_offer_and_accept_it(
    pages: Pages, live: LiveServer, screenshots: Path
) -> None:
    day, booked = fill_a_day(live)
    page = pages.new()
    register(page, "Wendy Wait")
    page.goto("/book")
    page.get_by_role("link", name="Cardiology").click()
    page.get_by_role("link", name=DOCTOR).click()
    join = page.locator(f"[data-action=join-waitlist][data-date='{day.isoformat()}']")
    assert join.inner_text().strip() == "Join the waitlist"
    join.click()
    page.get_by_text("You are on the waitlist for that day").wait_for()

    token, appointment_id = booked[len(booked) // 2]
    with live.client(token) as c:
        r = c.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"})
        assert r.status_code == 200, r.text

    page.goto("/dashboard")
    _reload_until(page, "Held for you from the waitlist")
    offer = page.locator(".waitlist-entry")
    assert offer.get_by_role("button", name="Accept").count() == 1
    assert offer.get_by_role("button", name="Decline").count() == 1

    staff = pages.new()
    pages.sign_in(staff, "staff@demo.careslot", then="/desk")
    staff.goto("/desk")
    row = staff.locator("table.waitlist tr", has_text="Wendy Wait")
    assert row.get_attribute("data-status") == "offered"

    page.goto("/appointments")
    entry = page.locator(".waitlist-entry")
    assert "A time is held for you" in entry.inner_text()
    page.screenshot(path=str(screenshots / "waitlist-offer.png"), full_page=True)
    entry.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/dashboard?booked=*")
    assert int(page.locator("[data-stat=upcomingCount]").inner_text()) == 1
    assert page.locator(".waitlist-entry").count() == 0


def test_decline_an_offer_in_the_browser(pages: Pages, live: LiveServer) -> None:
    day, booked = fill_a_day(live)
    page = pages.new()
    register(page, "Dara Decline")
    page.goto("/book")
    page.get_by_role("link", name="Cardiology").click()
    page.get_by_role("link", name=DOCTOR).click()
    page.locator(f"[data-action=join-waitlist][data-date='{day.isoformat()}']").click()
    page.get_by_text("You are on the waitlist for that day").wait_for()
    token, appointment_id = booked[0]
    with live.client(token) as c:
        assert (
            c.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"}).status_code
            == 200
        )
    page.goto("/appointments")
    _reload_until(page, "A time is held for you")
    entry_id = page.locator(".waitlist-entry").get_attribute("data-entry-id")
    page.goto(f"/appointments?offer={entry_id}&action=decline#offer-{entry_id}")  # the mail's link
    assert page.locator(f"#offer-{entry_id}").get_attribute("aria-current") == "true"
    page.locator(".waitlist-entry").get_by_role("button", name="Decline").click()
    page.get_by_text("You declined the time").wait_for()
    status = page.locator(".waitlist-entry [data-role=status]")
    assert status.text_content().strip() == "declined"


def _reload_until(page: Any, text: str, tries: int = 100) -> None:
    for _ in range(tries):
        if page.get_by_text(text).count():
            return
        page.wait_for_timeout(100)
        page.reload()
    raise AssertionError(f"never shown: {text}")
