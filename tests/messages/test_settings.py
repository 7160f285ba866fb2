"""The messages' settings: reminder offsets and the SMTP URL, refused when malformed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from careslot.config import Settings, parse_offsets
from careslot.messages.transport import SmtpTarget, parse_smtp_url


def test_reminder_offsets() -> None:
    assert parse_offsets("48h,2h") == (timedelta(hours=48), timedelta(hours=2))
    assert parse_offsets(" 90m , 2d ") == (timedelta(minutes=90), timedelta(days=2))
    assert parse_offsets("") == ()
    for bad in ("soon", "48", "2w", "-2h", "1.5h"):
        with pytest.raises(ValidationError):
            Settings(reminders=bad)


def test_smtp_urls() -> None:
    assert parse_smtp_url("smtp://mail.example:2525") == SmtpTarget("mail.example", 2525)
    assert parse_smtp_url("smtp://u%40x:p%3Aw@mail.example:587?starttls=true") == SmtpTarget(
        "mail.example", 587, "u@x", "p:w", starttls=True
    )
    assert parse_smtp_url("smtps://mail.example") == SmtpTarget("mail.example", 465, tls=True)
    for bad in (
        "http://mail.example",
        "smtp://",
        "mail.example:25",
        "smtp://mail.example?starttls=ture",  # a typo must not mean "in the clear"
        "smtp://mail.example?tls=true",
        "smtps://mail.example?starttls=true",
    ):
        with pytest.raises(ValueError, match="CARESLOT_SMTP_URL"):
            parse_smtp_url(bad)
        with pytest.raises(ValidationError, match="CARESLOT_SMTP_URL"):
            Settings(smtp_url=bad)
    assert Settings(smtp_url="").smtp_url is None
