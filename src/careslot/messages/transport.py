"""Mail transport: CARESLOT_SMTP_URL through aiosmtplib, one connection reused per sender.

Each failure is classified: a 5xx answer (or an address no server could take) is
permanent; a 4xx answer, a refused connection or a timeout is worth retrying.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib.errors import SMTPDataError, SMTPRecipientRefused, SMTPRecipientsRefused

log = logging.getLogger("careslot.messages.transport")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class DeliveryFailed(Exception):
    def __init__(self, error: str, *, permanent: bool) -> None:
        super().__init__(error)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    tls: bool = False


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://[user:pass@]host:port[?starttls=true]` (or `smtps://` for implicit TLS).

    An unknown parameter or a `starttls` that is neither true nor false is refused: a typo
    must not quietly send the password in the clear."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("CARESLOT_SMTP_URL must look like smtp://[user:pass@]host:port")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    if set(query) - {"starttls"} or query.get("starttls", "false") not in TRUE | FALSE:
        raise ValueError("CARESLOT_SMTP_URL takes only ?starttls=true or ?starttls=false")
    tls = parts.scheme == "smtps"
    starttls = query.get("starttls", "false") in TRUE
    if tls and starttls:
        raise ValueError("CARESLOT_SMTP_URL: smtps:// is TLS from the start; drop ?starttls")
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        starttls=starttls,
        tls=tls,
    )


def _refusal(exc: Exception) -> DeliveryFailed:
    if isinstance(exc, SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return DeliveryFailed(text, permanent=bool(codes) and min(codes) >= 500)
    if isinstance(exc, SMTPRecipientRefused | SMTPDataError):
        # The server refuses this message or address for good (5xx) or for now (4xx). A
        # refused connection, login or sender is our configuration: retried until give-up.
        return DeliveryFailed(f"{exc.code} {exc.message}", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryFailed(f"{exc.code} {exc.message}", permanent=False)
    return DeliveryFailed(f"{type(exc).__name__}: {exc}", permanent=False)


class Mailer:
    def __init__(self, target: SmtpTarget, *, timeout: float, ca_file: str | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.ca_file = ca_file  # None: the system's certificate authorities
        self._smtp: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        smtp = aiosmtplib.SMTP(
            hostname=self.target.host,
            port=self.target.port,
            username=self.target.username,
            password=self.target.password,
            start_tls=self.target.starttls,
            use_tls=self.target.tls,
            cert_bundle=self.ca_file,
            timeout=self.timeout,
        )
        await smtp.connect()
        self._smtp = smtp
        return smtp

    async def send(self, *, sender: str, recipient: str, data: bytes) -> None:
        try:
            smtp = await self._connected()
            await smtp.sendmail(sender, [recipient], data, timeout=self.timeout)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()  # a half-finished conversation is not reused
            raise _refusal(exc) from exc

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                if smtp.is_connected:
                    await smtp.quit(timeout=1)
            smtp.close()
