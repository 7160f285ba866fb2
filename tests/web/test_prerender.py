"""Speculation Rules prerender: a hovered link's page is ready before the click.

Driven through `Tab` (the tab target), since Chrome refuses to prerender under Playwright.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from careslot.seeding.demo import PASSWORD
from tests.api.helpers import book, free_slots
from tests.conftest import LiveServer
from tests.web.conftest import CHROMIUM, LAUNCH_ARGS, _missing
from tests.web.tab import Tab

BOOK = "main a[href='/book']"
NAVIGATION = "performance.getEntriesByType('navigation')[0]"


@pytest.fixture
async def tab(live: LiveServer) -> AsyncIterator[Tab]:
    if not Path(CHROMIUM).exists():
        _missing(f"chromium not found at {CHROMIUM}")
    async with Tab.launch(CHROMIUM, LAUNCH_ARGS) as tab:
        await tab.sign_in(live.url, "patient@demo.careslot", PASSWORD)
        await tab.goto(live.url + "/dashboard")
        yield tab


async def test_a_hovered_link_is_prerendered_and_the_click_shows_it(tab: Tab) -> None:
    await tab.hover(BOOK)
    prerender = await tab.wait_for_prerender("/book")
    # Prerendered, not shown: its route prefetching waits for the click.
    assert await tab.evaluate("document.prerendering", prerender) is True
    assert await tab.evaluate("window.careslotTimings.tti", prerender) is None

    await tab.click(BOOK)
    assert tab.session == prerender  # the tab now shows the page that was prerendered
    assert await tab.evaluate("location.pathname") == "/book"
    activated = await tab.evaluate(f"{NAVIGATION}.activationStart")
    assert activated > 0
    # The page's own timings count from the click, as the person saw them.
    fcp = await tab.until("window.careslotTimings.fcp !== null && window.careslotTimings")
    painted = await tab.evaluate(
        "performance.getEntriesByName('first-contentful-paint')[0].startTime"
    )
    assert fcp["fcp"] == max(0, painted - activated)
    assert fcp["tti"] is not None
    assert fcp["tti"] >= fcp["fcp"]


async def test_a_link_marked_nofollow_after_a_change_is_not_prerendered(tab: Tab) -> None:
    # What the script does to every link after a write: their prefetched pages may be stale.
    await tab.evaluate(
        "document.querySelectorAll('a[href]').forEach(a => a.relList.add('nofollow')) || true"
    )
    await tab.hover(BOOK)
    with pytest.raises(TimeoutError):
        await tab.wait_for_prerender("/book", timeout=1.5)

    await tab.click(BOOK)
    assert await tab.evaluate("location.pathname") == "/book"
    assert await tab.evaluate(f"{NAVIGATION}.activationStart") == 0


async def test_a_page_prerendered_before_a_change_is_not_the_one_shown_after_it(
    tab: Tab, live: LiveServer
) -> None:
    """Hovering Dashboard prerenders it; cancelling an appointment on the page afterwards
    must not let the click show that prerendered (now stale) dashboard."""
    with live.client(live.login("patient@demo.careslot")) as client:
        doctor = client.get("/api/doctors").json()[0]["id"]
        booked = book(client, doctor, free_slots(live, doctor)[0]["start"])
    assert booked.status_code == 201, booked.text
    cancel = f"[data-action=cancel][data-id='{booked.json()['id']}']"
    row = f"[data-appointment-id='{booked.json()['id']}']"
    await tab.goto(live.url + "/appointments")
    dashboard = "nav a[href='/dashboard']"
    await tab.hover(dashboard)
    prerender = await tab.wait_for_prerender("/dashboard")
    upcoming = "Number(document.querySelector('[data-stat=upcomingCount]').textContent)"
    before = await tab.evaluate(upcoming, prerender)

    await tab.evaluate(f'document.querySelector("{cancel}").click()')  # no navigation
    await tab.until(f'document.querySelector("{row}").dataset.status === "cancelled"')
    await tab.click(dashboard)
    assert await tab.evaluate("location.pathname") == "/dashboard"
    assert await tab.evaluate(f"{NAVIGATION}.activationStart") == 0  # loaded afresh
    assert await tab.evaluate(upcoming) == before - 1
