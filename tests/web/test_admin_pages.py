"""The admin pages in a real browser: a doctor's week, time off over a booking (see the
conflicts, then force), closures, appointment types, and a patient booking a type on /book.
Every form is filled through its label; the week is saved from the keyboard alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import psycopg
from playwright.sync_api import expect

from tests.api.helpers import book, register
from tests.conftest import LiveServer
from tests.web.conftest import Pages
from tests.web.flows import choose_slot
from tests.web.flows import register as register_in_browser

LENA = "Dr. Lena Fischer"
BROWSER_PASSWORD = "a-long-password"  # noqa: S105 - what flows.register types


def _api(live: LiveServer, email: str) -> httpx.Client:
    return live.client(live.login(email))


def _lena(live: LiveServer) -> int:
    # Plain psycopg: Playwright's sync API keeps an event loop running in this thread.
    assert live.settings.database_url is not None
    with psycopg.connect(live.settings.database_url, autocommit=True) as conn:
        row = conn.execute("select id from doctors where name = %s", (LENA,)).fetchone()
    assert row is not None
    doctor_id: int = row[0]
    return doctor_id


def test_staff_edit_a_doctors_week_from_the_keyboard(pages: Pages, live: LiveServer) -> None:
    staff = pages.new()
    pages.sign_in(staff, "staff@demo.careslot", then="/admin")
    staff.get_by_role("link", name=LENA).click()
    staff.wait_for_url("**/admin/doctors/*")
    expect(staff.get_by_role("heading", name=LENA, level=1)).to_be_visible()
    assert staff.get_by_role("button", name="Save details").count() == 0  # admins only

    staff.get_by_label("Monday window 1 from").fill("08:00")
    staff.get_by_label("Monday window 1 to").fill("11:00")
    staff.get_by_label("Monday window 2 from").fill("")
    staff.get_by_label("Monday window 2 to").fill("")
    staff.get_by_label("Sunday window 1 from").fill("10:00")
    staff.get_by_label("Sunday window 1 to").fill("12:00")
    staff.get_by_label("Sunday window 1 to").press("Enter")  # submits, no mouse needed
    staff.wait_for_url("**saved=hours*")
    expect(staff.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    assert staff.get_by_label("Monday window 1 from").input_value() == "08:00"

    with _api(live, "staff@demo.careslot") as c:
        items = c.get(f"/api/doctors/{_lena(live)}/working-hours").json()["items"]
    assert [w for w in items if w["weekday"] in (1, 7)] == [
        {"weekday": 1, "start": "08:00", "end": "11:00"},
        {"weekday": 7, "start": "10:00", "end": "12:00"},
    ]


def test_overlapping_windows_are_shown_not_saved(pages: Pages, live: LiveServer) -> None:
    staff = pages.new()
    pages.sign_in(staff, "staff@demo.careslot", then=f"/admin/doctors/{_lena(live)}")
    staff.get_by_label("Tuesday window 1 from").fill("09:00")
    staff.get_by_label("Tuesday window 1 to").fill("12:00")
    staff.get_by_label("Tuesday window 2 from").fill("11:00")
    staff.get_by_label("Tuesday window 2 to").fill("13:00")
    staff.get_by_role("button", name="Save weekly hours").click()
    expect(staff.get_by_role("alert")).to_contain_text("overlaps")
    assert staff.get_by_label("Tuesday window 2 from").input_value() == "11:00"  # kept
    with _api(live, "staff@demo.careslot") as c:
        items = c.get(f"/api/doctors/{_lena(live)}/working-hours").json()["items"]
    assert [w for w in items if w["weekday"] == 2] == [
        {"weekday": 2, "start": "09:00", "end": "12:30"},
        {"weekday": 2, "start": "13:30", "end": "17:00"},
    ]


def test_time_off_over_a_booking_shows_it_then_forces(
    pages: Pages, live: LiveServer, screenshots: Path
) -> None:
    doctor = _lena(live)
    _, token = register(live, "Ola Overlap")
    with live.client(token) as patient:
        day = dt.datetime.now(live.settings.zone).date() + dt.timedelta(days=2)
        while True:
            free = patient.get("/api/slots", params={"doctorId": doctor, "date": day}).json()
            if free["slots"]:
                break
            day += dt.timedelta(days=1)
        booked = book(patient, doctor, free["slots"][0]["start"])
        assert booked.status_code == 201, booked.text
    start = dt.datetime.fromisoformat(booked.json()["start"]).astimezone(live.settings.zone)

    admin = pages.new()
    pages.sign_in(admin, "admin@demo.careslot", then=f"/admin/doctors/{doctor}")
    admin.get_by_label("From", exact=True).fill(start.strftime("%Y-%m-%dT00:00"))
    admin.get_by_label("Until", exact=True).fill(start.strftime("%Y-%m-%dT23:59"))
    admin.get_by_label("Reason (optional)").fill("Course")
    admin.get_by_role("button", name="Add time off").click()
    conflicts = admin.locator("[data-list=conflicts] li")
    expect(conflicts).to_have_count(1)
    expect(conflicts.first).to_contain_text("Ola Overlap")
    admin.screenshot(path=str(screenshots / "admin-doctor-conflicts.png"), full_page=True)
    with live.client(token) as patient:  # nothing happened yet
        assert patient.get(f"/api/appointments/{booked.json()['id']}").json()["status"] == (
            "scheduled"
        )
    admin.get_by_role("button", name="Cancel 1 appointment and add it").click()
    admin.wait_for_url("**saved=time-off*")
    expect(admin.locator("[data-list=time-off] li")).to_contain_text("Course")
    with live.client(token) as patient:
        assert patient.get(f"/api/appointments/{booked.json()['id']}").json()["status"] == (
            "cancelled"
        )

    admin.locator("[data-list=time-off] li").get_by_role("button", name="Remove").click()
    admin.wait_for_url("**saved=time-off-removed*")
    expect(admin.get_by_text("No time off ahead.")).to_be_visible()


def test_closures_admins_add_staff_read(pages: Pages, live: LiveServer) -> None:
    admin = pages.new()
    pages.sign_in(admin, "admin@demo.careslot", then="/admin/closures")
    admin.get_by_label("From").fill("2099-12-25T00:00")
    admin.get_by_label("Until").fill("2099-12-26T00:00")
    admin.get_by_label("Reason").fill("Christmas Day")
    admin.get_by_role("button", name="Add closure").click()
    admin.wait_for_url("**saved=closure*")
    expect(admin.locator("[data-list=closures] li")).to_contain_text("Christmas Day")

    staff = pages.new()
    pages.sign_in(staff, "staff@demo.careslot", then="/admin/closures")
    expect(staff.locator("[data-list=closures] li")).to_contain_text("Christmas Day")
    assert staff.get_by_role("button", name="Add closure").count() == 0

    patient = pages.new()
    pages.sign_in(patient, "patient@demo.careslot", then="/admin")
    assert patient.url.endswith("/dashboard")  # not their page


def test_admin_adds_types_and_a_patient_books_one(
    pages: Pages, live: LiveServer, screenshots: Path
) -> None:
    admin = pages.new()
    pages.sign_in(admin, "admin@demo.careslot", then="/admin/types")
    for name, minutes, after in (("Echo scan", "45", "15"), ("Follow-up", "20", "0")):
        add = admin.locator("section[aria-labelledby=add-type-h]")
        add.get_by_label("Department").select_option(label="Cardiology")
        add.get_by_label("Name", exact=True).fill(name)
        add.get_by_label("Length (minutes)").fill(minutes)
        add.get_by_label("Buffer after (minutes)").fill(after)
        add.get_by_role("button", name="Add type").click()
        admin.wait_for_url("**saved=type*")
    expect(admin.locator("form.type-row")).to_have_count(2)
    admin.screenshot(path=str(screenshots / "admin-types.png"), full_page=True)
    row = admin.locator("form.type-row").filter(has=admin.locator("input[value='Follow-up']"))
    row.get_by_label("Patients may book").uncheck()
    row.get_by_role("button", name="Save").click()
    admin.wait_for_url("**saved=type*")

    page = pages.new()
    email = register_in_browser(page, "Tia Typed")
    page.goto("/book")
    page.get_by_role("link", name="Cardiology").click()
    step = page.locator("section[aria-labelledby=step-type]")
    expect(step.get_by_role("link")).to_have_count(2)  # standard visit + the scan
    assert step.get_by_text("Follow-up").count() == 0  # staff only
    page.screenshot(path=str(screenshots / "book-types.png"))
    step.get_by_role("link", name="Echo scan").click()
    page.get_by_role("link", name="Dr. Amara Okafor").click()
    page.locator("a.day").first.click()
    page.locator("a.slot").first.click()
    expect(page.locator("#book-form")).to_contain_text("Echo scan")
    page.get_by_role("button", name="Book").click()
    page.wait_for_url("**/dashboard?booked=*")
    booked_id = page.url.split("booked=")[1]
    with live.client(live.login(email, BROWSER_PASSWORD)) as me:
        got = me.get(f"/api/appointments/{booked_id}").json()
    assert got["typeName"] == "Echo scan"
    length = dt.datetime.fromisoformat(got["end"]) - dt.datetime.fromisoformat(got["start"])
    assert length == dt.timedelta(minutes=45)


def test_untyped_booking_in_the_browser_is_unchanged(pages: Pages) -> None:
    page = pages.new()
    register_in_browser(page, "Una Plain")
    choose_slot(page)
    assert page.locator("section[aria-labelledby=step-type]").count() == 0
