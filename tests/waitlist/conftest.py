"""Waitlist tests: careslot over real HTTP, a real SMTP sink, and a real browser."""

from __future__ import annotations

from tests.messages.conftest import eventually, mail_live, mail_settings, sink
from tests.web.conftest import browser, pages, screenshots

__all__ = [
    "browser",
    "eventually",
    "mail_live",
    "mail_settings",
    "pages",
    "screenshots",
    "sink",
]
