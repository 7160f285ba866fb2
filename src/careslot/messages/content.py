"""What a message says: plain text and HTML from Jinja2 templates, in the hospital's zone,
with an iCalendar part for bookings, moves and cancellations. Never the reason (clinical)."""

from __future__ import annotations

import quopri
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, parseaddr
from functools import cache
from uuid import UUID
from zoneinfo import ZoneInfo

import icalendar
from jinja2 import Environment, PackageLoader, select_autoescape

from careslot.booking.schemas import Status
from careslot.messages.schemas import Notice

SUBJECTS = {
    "booked": "Your appointment on {when} is booked",
    "rescheduled": "Your appointment has moved to {when}",
    "cancelled": "Your appointment on {when} is cancelled",
    "reminder": "Reminder: your appointment on {when}",
    "waitlist_offer": "A slot is free for you on {when}",
}
ICAL_METHOD = {"booked": "REQUEST", "rescheduled": "REQUEST", "cancelled": "CANCEL"}


class BadAddress(ValueError):
    """A recipient that no mail server could take (an old account's malformed email)."""


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("careslot.messages", "templates"),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
    )


def wall_clock(value: datetime, zone: ZoneInfo) -> str:
    """'Monday 7 December 2026, 09:30 (Europe/London)': the hospital's local time."""
    local = value.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone.key})"


def short_wall_clock(value: datetime, zone: ZoneInfo) -> str:
    """'Mon 7 Dec 2026 at 09:30': short enough for a subject line that never folds."""
    local = value.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y} at {local:%H:%M}"


def appointment_uid(appointment_id: int) -> str:
    return f"appointment-{appointment_id}@careslot"


def message_id_header(message_id: UUID, mail_from: str) -> str:
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "careslot.localhost"
    return f"<{message_id}@{domain}>"


def check_address(recipient: str) -> Address:
    try:
        address = Address(addr_spec=recipient)
    except (ValueError, TypeError, IndexError) as exc:  # the parser raises all three
        raise BadAddress(f"malformed address {recipient!r}: {exc}") from exc
    if not address.domain or "." not in address.domain:
        raise BadAddress(f"malformed address {recipient!r}: no domain")
    return address


def event(
    calendar: icalendar.Calendar, appointment: Notice, *, sequence: int, stamp: datetime
) -> None:
    cancelled = appointment.status == Status.CANCELLED
    vevent = icalendar.Event()
    vevent.add("uid", appointment_uid(appointment.id))
    vevent.add("sequence", sequence)
    vevent.add("dtstamp", stamp)
    vevent.add("dtstart", appointment.start)
    vevent.add("dtend", appointment.end)
    vevent.add("summary", f"Appointment with {appointment.doctor_name}")
    vevent.add("location", appointment.department_name)
    vevent.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(vevent)


def invitation(
    appointment: Notice,
    *,
    method: str,
    sequence: int,
    stamp: datetime,
    organizer: str,
    attendee: str,
) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//careslot//appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event(calendar, appointment, sequence=sequence, stamp=stamp)
    vevent = calendar.walk("VEVENT")[0]
    vevent.add("organizer", f"mailto:{parseaddr(organizer)[1]}")
    vevent.add("attendee", f"mailto:{attendee}")
    return bytes(calendar.to_ical())


def _text(body: str, subtype: str) -> MIMEText:
    """Quoted-printable UTF-8: readable as it is in a mailbox file, safe for any server."""
    part = MIMEText("", subtype, "utf-8")
    part.replace_header("Content-Transfer-Encoding", "quoted-printable")
    part.set_payload(quopri.encodestring(body.encode()).decode("ascii"))
    return part


def _offer_links(appointment: Notice, zone: ZoneInfo, public_url: str) -> dict[str, str]:
    """A waitlist offer's deadline and its accept and decline links (to the page where the
    patient, signed in, presses the button: a link alone never books or declines)."""
    if appointment.entry_id is None or appointment.expires_at is None:
        return {}
    page = f"{public_url.rstrip('/')}/appointments?offer={appointment.entry_id}"
    return {
        "expires": wall_clock(appointment.expires_at, zone),
        "accept_url": f"{page}&action=accept#offer-{appointment.entry_id}",
        "decline_url": f"{page}&action=decline#offer-{appointment.entry_id}",
    }


def build_mail(
    *,
    template: str,
    recipient: str,
    appointment: Notice,
    message_id: UUID,
    sequence: int | None,
    mail_from: str,
    zone: ZoneInfo,
    now: datetime,
    public_url: str = "",
) -> MIMEMultipart:
    """The MIME message. Built with the compat32 classes: the modern EmailMessage API took
    10-20 ms a mail here (header parsing and refolding), on the event loop of a worker that
    also answers bookings; this took about 1.5 ms (measured while building issue 11, not
    kept as a benchmark), and the sender runs it in a thread."""
    address = check_address(recipient)
    when = wall_clock(appointment.start, zone)
    subject = SUBJECTS[template].format(when=short_wall_clock(appointment.start, zone))
    values = {
        "template": template,
        "subject": subject,
        "name": appointment.client_name,
        "when": when,
        "doctor": appointment.doctor_name,
        "department": appointment.department_name,
        **_offer_links(appointment, zone, public_url),
    }
    message = MIMEMultipart("alternative")
    message["From"] = mail_from
    message["To"] = address.addr_spec
    message["Subject"] = Header(subject, "utf-8").encode() if not subject.isascii() else subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id_header(message_id, mail_from)
    message["Auto-Submitted"] = "auto-generated"
    message.attach(_text(_templates().get_template("mail.txt").render(values), "plain"))
    message.attach(_text(_templates().get_template("mail.html").render(values), "html"))
    method = ICAL_METHOD.get(template)
    if method is not None and sequence is not None:
        ics = invitation(
            appointment,
            method=method,
            sequence=sequence,
            stamp=now,
            organizer=mail_from,
            attendee=address.addr_spec,
        )
        part = _text(ics.decode(), "calendar")
        part.set_param("method", method)
        message.attach(part)
    return message
