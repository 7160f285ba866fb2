"""Booking in a real browser: register, book, see it at once, cancel; races; keyboard."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.conftest import LiveServer
from tests.web.conftest import Pages
from tests.web.flows import choose_slot, register


def stat(page: Any, name: str) -> int:
    return int(page.locator(f"[data-stat={name}]").inner_text())


def test_register_book_see_it_on_the_dashboard_then_cancel(pages: Pages) -> None:
    page = pages.new()
    register(page, "Mina Web")
    assert stat(page, "upcomingCount") == 0
    time = choose_slot(page)
    page.get_by_label("Reason for visit (optional)").fill("Chest pain when running")
    page.get_by_role("button", name="Book").click()
    page.wait_for_url("**/dashboard?booked=*")
    assert stat(page, "upcomingCount") == 1
    assert time in page.locator("[data-stat=nextAppointmentDate]").inner_text()
    recent = page.locator("[data-list=recent] li")
    assert recent.count() == 1
    assert "Cardiology" in recent.first.inner_text()
    assert "Scheduled" in recent.first.inner_text().title()

    page.get_by_role("link", name="My appointments").click()
    row = page.locator(".appt").filter(has_text="Dr. Amara Okafor")
    row.get_by_role("button", name="Cancel").click()
    page.get_by_text("Cancelled your appointment").wait_for()
    assert row.locator("[data-role=status]").text_content().strip() == "cancelled"
    assert row.get_by_role("button", name="Cancel").count() == 0

    page.get_by_role("link", name="Dashboard").click()
    assert stat(page, "upcomingCount") == 0


def test_reschedule_moves_the_appointment(pages: Pages) -> None:
    page = pages.new()
    register(page, "Remy Move")
    choose_slot(page, nth_slot=0)
    page.get_by_role("button", name="Book").click()
    page.wait_for_url("**/dashboard?booked=*")
    page.goto("/appointments")
    page.get_by_role("link", name="Reschedule").click()
    page.locator("a.day").nth(1).click()
    new_time = str(page.locator("a.slot").nth(2).inner_text()).strip()
    page.locator("a.slot").nth(2).click()
    page.get_by_role("button", name="Move appointment").click()
    page.wait_for_url("**/dashboard?booked=*")
    assert new_time in page.locator("[data-stat=nextAppointmentDate]").inner_text()
    assert stat(page, "upcomingCount") == 1


def test_two_patients_race_for_one_slot_and_the_loser_sees_fresh_slots(pages: Pages) -> None:
    first, second = pages.new(), pages.new()
    register(first, "Ada First")
    register(second, "Bo Second")
    time = choose_slot(first)
    assert choose_slot(second) == time  # both look at the same free time

    first.get_by_role("button", name="Book").click()
    first.wait_for_url("**/dashboard?booked=*")
    second.get_by_role("button", name="Book").click()

    message = second.get_by_role("alert")
    message.filter(has_text="someone else has just booked that time").wait_for()
    assert second.url.split("?")[0].endswith("/book")  # no error page, still booking
    # The message shows before the fresh list arrives: wait (up to 5 s) for the taken time
    # to leave the list, then read it (reading at once raced the refresh on a loaded machine).
    taken = second.locator("#slots a.slot").filter(has_text=time)
    expect(taken).to_have_count(0)
    fresh = [t.strip() for t in second.locator("#slots a.slot").all_inner_texts()]
    assert fresh, "the fresh free times are listed"
    assert time not in fresh
    assert second.get_by_role("button", name="Book").count() == 0
    # The loser can book one of the fresh times at once.
    second.locator("#slots a.slot").first.click()
    second.get_by_role("button", name="Book").click()
    second.wait_for_url("**/dashboard?booked=*")
    assert stat(second, "upcomingCount") == 1


def tab_to(page: Any, test_js: str, limit: int = 300) -> None:
    """Press Tab until the focused element satisfies `test_js` (given `el`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        probe = f"(() => {{ const el = document.activeElement; return !!({test_js}); }})()"
        if page.evaluate(probe):
            return
    raise AssertionError(f"Tab never reached an element where {test_js}")


def test_booking_works_with_the_keyboard_only(pages: Pages) -> None:
    page = pages.new()
    page.goto("/login?next=/book")
    tab_to(page, "el.id === 'email'")
    page.keyboard.type("patient2@demo.careslot")
    page.keyboard.press("Tab")
    page.keyboard.type("careslot-demo")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.split("?")[0].endswith("/book"))
    steps = [
        ("el.matches('a.choice') && el.textContent.includes('Dermatology')", "**departmentId=*"),
        ("el.matches('a.choice') && el.textContent.includes('Kenji')", "**doctorId=*"),
        ("el.matches('a.day')", "**date=*"),
        ("el.matches('a.slot')", "**start=*"),
    ]
    for test_js, url in steps:
        tab_to(page, test_js)
        page.keyboard.press("Enter")
        page.wait_for_url(url)
    tab_to(page, "el.id === 'reason'")
    page.keyboard.type("Rash")
    tab_to(page, "el.matches('button[type=submit]') && el.textContent.trim() === 'Book'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard?booked=*")
    assert "Dermatology" in page.locator("[data-list=recent]").inner_text()


def test_signed_out_visit_goes_to_sign_in_and_comes_back(pages: Pages, live: LiveServer) -> None:
    page = pages.new()
    page.goto("/appointments")
    assert "/login?next=" in page.url
    page.get_by_label("Email").fill("patient@demo.careslot")
    page.get_by_label("Password").fill("careslot-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/appointments")
    assert page.get_by_role("heading", name="My appointments").is_visible()
    for path in ("/dashboard", "/book", "/appointments", "/calendar"):
        page.goto(path)
        assert page.get_by_role("button", name="Sign out").is_visible(), path


def test_wrong_password_says_so_in_plain_words(pages: Pages) -> None:
    page = pages.new()
    page.goto("/login")
    page.get_by_label("Email").fill("patient@demo.careslot")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.filter(has_text="do not match").wait_for()
    assert page.url.endswith("/login")


def test_unknown_page_is_a_plain_words_error_page(pages: Pages) -> None:
    page = pages.new()
    response = page.goto("/no-such-page")
    assert response is not None
    assert response.status == 404
    assert page.get_by_role("heading", name="We could not find that page").is_visible()
