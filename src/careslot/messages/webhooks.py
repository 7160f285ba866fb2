"""Webhooks (SPEC section 9): admins register URLs; deliveries go through the outbox and are
signed by the Standard Webhooks scheme (standardwebhooks), with the outbox row's message_id
as `webhook-id`, so every retry of one delivery carries the same id."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import secrets
import socket
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg
import httpx
from standardwebhooks.webhooks import Webhook as Signer

from careslot import jsonutil
from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.context import Context
from careslot.errors import CareslotError, Forbidden, NotFound, ValidationFailed
from careslot.messages.schemas import Webhook, WebhookList, WebhookRegistered
from careslot.messages.transport import DeliveryFailed

EVENTS = (
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
    "appointment.status_changed",
    "schedule.changed",
    "waitlist.offered",
)


class WebhookUrlRefused(CareslotError):
    status, code, title = 422, "webhook_url_refused", "That webhook address is not allowed"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


async def resolve(host: str) -> list[Address]:
    """The addresses a webhook's host stands for now. Delivery resolves once, checks what it
    got and connects to exactly that (see `deliver`), so the tests may replace this function
    to play a DNS server that changes its answer."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=5
        )
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot resolve {host}: {exc}") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def check_destination(url: str, *, allow_private: bool) -> Address:
    """The address to connect to for `url`. Refuse what is not http(s), and private, loopback
    or link-local addresses (a webhook must not reach into the hospital's own network) unless
    the operator allows them."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL must be http:// or https:// with a host")
    addresses = await resolve(parts.hostname)
    if not addresses:
        raise ValueError(f"{parts.hostname} has no address")
    if not allow_private:
        for address in addresses:
            if not address.is_global:
                raise ValueError(f"{parts.hostname} is a private or loopback address ({address})")
    return addresses[0]


def pinned(url: str, address: Address) -> tuple[str, str]:
    """`url` with its host replaced by `address`, and the Host header the receiver expects.
    httpx then has no name to resolve, so a DNS answer that changes after the check (DNS
    rebinding) cannot send the request elsewhere; TLS still checks the certificate against
    the name (the sni_hostname extension)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = f":{parts.port}" if parts.port is not None else ""
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    literal = f"[{address}]" if address.version == 6 else str(address)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + literal + port
    return urlunsplit(parts._replace(netloc=netloc)), name + port


async def deliver(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    message_id: UUID,
    payload: Mapping[str, object],
    now: datetime,
    allow_private: bool,
) -> None:
    try:
        address = await check_destination(url, allow_private=allow_private)  # DNS may change
    except ValueError as exc:
        raise DeliveryFailed(str(exc), permanent=True) from exc
    target, host = pinned(url, address)
    body = jsonutil.dumps(payload).decode()
    headers = {
        "host": host,
        "content-type": "application/json",
        "webhook-id": str(message_id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(secret).sign(str(message_id), now, body),
    }
    hostname = urlsplit(url).hostname
    try:
        # Redirects are not followed: a 3xx is a failed attempt, retried like a 500.
        response = await client.post(
            target, content=body, headers=headers, extensions={"sni_hostname": hostname}
        )
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(f"timed out: {type(exc).__name__}", permanent=False) from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}", permanent=False) from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code}", permanent=False)


def _admin_only(actor: User) -> None:
    if actor.role != "admin":
        raise Forbidden("webhooks are for admins")


def _webhook(row: asyncpg.Record) -> Webhook:
    return Webhook.model_validate(dict(row))


async def register(ctx: Context, *, actor: User, url: str, events: list[str]) -> WebhookRegistered:
    _admin_only(actor)
    unknown = sorted(set(events) - set(EVENTS))
    if not events or unknown:
        raise ValidationFailed(f"events must be some of {', '.join(EVENTS)}")
    try:
        await check_destination(url, allow_private=ctx.settings.webhook_allow_private)
    except ValueError as exc:
        raise WebhookUrlRefused(str(exc)) from exc
    secret = new_secret()
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "insert into webhooks (url, events, secret) values ($1, $2, $3) "
            "returning id, url, events, created_at",
            url,
            sorted(set(events)),
            secret,
        )
        assert row is not None
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="create",
            entity="webhook",
            entity_id=row["id"],
        )
    return WebhookRegistered.model_validate({**dict(row), "secret": secret})  # shown once


async def listing(ctx: Context, *, actor: User) -> WebhookList:
    _admin_only(actor)
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("select id, url, events, created_at from webhooks order by id")
    return WebhookList(items=[_webhook(r) for r in rows])


async def delete(ctx: Context, *, actor: User, webhook_id: int) -> None:
    _admin_only(actor)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "update outbox set status = 'skipped', next_attempt_at = null, "
            "last_error = 'webhook deleted' where webhook_id = $1 and status = 'pending'",
            webhook_id,
        )
        gone = await conn.fetchval("delete from webhooks where id = $1 returning id", webhook_id)
        if gone is None:
            raise NotFound("no such webhook")
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="delete",
            entity="webhook",
            entity_id=webhook_id,
        )
