"""A real browser (Debian's chromium, driven by Playwright) against careslot over HTTP.

Chromium missing: the web tests skip on a developer machine and FAIL in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from careslot.seeding.demo import PASSWORD
from tests.conftest import IN_CI, LiveServer

CHROMIUM = os.environ.get("CARESLOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI needs it (apt-get install chromium; pip install playwright)")
    pytest.skip(reason)


@pytest.fixture
def browser(live: LiveServer) -> Iterator[object]:
    """Per test, started after the server: Playwright's sync API keeps an event loop
    running in this thread, so it must not be alive while fixtures call asyncio.run()."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    if not Path(CHROMIUM).exists():
        _missing(f"chromium not found at {CHROMIUM}")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class Pages:
    """A browser context per person, with helpers that act the way a person does."""

    def __init__(self, browser: object, live: LiveServer) -> None:
        self.browser = browser
        self.live = live
        self.contexts: list[object] = []
        self.csp_violations: list[str] = []

    def new(self, *, width: int = 1100, height: int = 900):  # type: ignore[no-untyped-def]
        context = self.browser.new_context(  # type: ignore[attr-defined]
            base_url=self.live.url,
            viewport={"width": width, "height": height},
        )
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._console)
        return page

    def _console(self, message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text:
            self.csp_violations.append(text)

    def sign_in(self, page, email: str, password: str = PASSWORD, then: str = "/") -> None:  # type: ignore[no-untyped-def]
        page.goto(f"/login?next={then}")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)
        page.wait_for_load_state()

    def close(self) -> None:
        for context in self.contexts:
            context.close()  # type: ignore[attr-defined]


@pytest.fixture
def pages(browser: object, live: LiveServer) -> Iterator[Pages]:
    helper = Pages(browser, live)
    yield helper
    helper.close()
    assert helper.csp_violations == [], helper.csp_violations


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
