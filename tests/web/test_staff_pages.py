"""The front desk and the doctor's page in a real browser."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import LiveServer
from tests.web.conftest import Pages
from tests.web.flows import appointment_today


def test_staff_checks_a_patient_in_and_the_patients_dashboard_shows_it(
    pages: Pages,
    live: LiveServer,
) -> None:
    appointment_id = appointment_today(live)
    patient = pages.new()
    pages.sign_in(patient, "patient@demo.careslot", then="/dashboard")
    item = patient.locator(f"[data-list=recent] li[data-appointment-id='{appointment_id}']")
    assert "scheduled" in item.text_content()

    staff = pages.new()
    pages.sign_in(staff, "staff@demo.careslot", then="/desk")
    row = staff.locator(f"tr[data-appointment-id='{appointment_id}']")
    assert "Pat Patient" in row.inner_text()
    assert row.get_by_role("button", name="Completed").is_disabled()
    row.get_by_role("button", name="Check in").click()
    expect(row).to_have_attribute("data-status", "checked_in")
    assert row.locator("[data-role=status]").text_content() == "checked in"
    assert "min" in row.locator("[data-role=waiting]").text_content()
    assert row.get_by_role("button", name="Check in").is_disabled()
    assert row.get_by_role("button", name="Completed").is_enabled()

    patient.reload()
    assert "checked in" in item.text_content()

    row.get_by_role("button", name="Completed").click()
    expect(row).to_have_attribute("data-status", "completed")
    staff.reload()
    assert row.locator("[data-role=status]").text_content() == "completed"


def test_staff_finds_a_patient_and_books_for_them(pages: Pages) -> None:
    staff = pages.new()
    pages.sign_in(staff, "staff@demo.careslot", then="/desk")
    staff.get_by_label("Name or email").fill("robin")
    staff.get_by_role("button", name="Find").click()
    staff.get_by_role("link", name="Book for Robin Reyes").click()
    assert staff.get_by_text("Booking for Robin Reyes").is_visible()
    staff.get_by_role("link", name="General Practice").click()
    staff.get_by_role("link", name="Dr. Sofia Rossi").click()
    staff.locator("a.day").first.click()
    staff.locator("a.slot").first.click()
    assert "for Robin Reyes" in staff.locator("#book-form").inner_text()
    staff.get_by_role("button", name="Book").click()
    staff.wait_for_url("**/desk?booked=*")
    assert staff.get_by_role("status").filter(has_text="Booked: Robin Reyes").is_visible()

    patient = pages.new()
    pages.sign_in(patient, "patient2@demo.careslot", then="/appointments")
    upcoming = patient.locator("section[aria-labelledby=upcoming-h] .appt")
    assert upcoming.filter(has_text="Dr. Sofia Rossi").count() == 1


def test_doctor_sees_own_day_and_week(pages: Pages) -> None:
    doctor = pages.new()
    pages.sign_in(doctor, "doctor@demo.careslot", then="/doctor")
    assert doctor.url.endswith("/doctor")
    assert doctor.get_by_role("heading", name="Dr. Amara Okafor").is_visible()
    assert doctor.locator("main section.card h2").first.inner_text().startswith("Today")
    assert doctor.locator("main h2[id^=day-]").count() == 7
