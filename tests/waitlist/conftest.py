"""Waitlist tests: careslot over real HTTP with its own sender mailing a real SMTP sink."""

from __future__ import annotations

from tests.messages.conftest import eventually, mail_live, mail_settings, sink

__all__ = ["eventually", "mail_live", "mail_settings", "sink"]
