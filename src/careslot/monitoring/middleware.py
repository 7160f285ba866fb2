"""Request monitoring as pure ASGI middleware: Server-Timing, latency per route, slow-call
log, and strong ETags with 304 Not Modified for GET JSON answers.

Pure ASGI (not BaseHTTPMiddleware) because it runs on every request: it adds one
contextvar, one histogram observation and, for small JSON GETs, one BLAKE2 hash of a body
that is already in memory. Streaming answers (no Content-Length) and answers that carry their
own ETag (cached answers, which also answered If-None-Match) pass through unbuffered.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careslot.headers import body_etag, header, none_match
from careslot.monitoring import metrics, timing

log = logging.getLogger("careslot.slow")

# Headers a 304 keeps (RFC 9110 15.4.5); the body and its metadata go.
DROPPED_ON_304 = frozenset(
    {
        b"content-length",
        b"content-type",
        b"content-encoding",
        b"transfer-encoding",
        b"content-range",
    }
)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_HASHED_BODY = 8 * 1024 * 1024  # larger answers go out without an ETag, unbuffered


_CONVERTOR = re.compile(r":\w+}")


def route_label(scope: Scope) -> str:
    """The matched route's template (/api/appointments/{appointment_id}), never a raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    # The template without convertors: {appointment_id:int} -> {appointment_id}.
    return _CONVERTOR.sub("}", path) if isinstance(path, str) else "unmatched"


def cache_outcome(t: timing.RequestTiming) -> str | None:
    if t.cache is None:
        return None
    outcome = f"{t.cache} hit" if t.cache in ("l1", "l2") else t.cache
    return f"{outcome} {t.strategy}" if t.strategy else outcome


def server_timing(t: timing.RequestTiming, total_seconds: float) -> bytes:
    parts = [f'db;dur={t.db_seconds * 1000:.2f};desc="{t.db_queries} queries"']
    outcome = cache_outcome(t)
    if outcome is not None:
        parts.append(f'cache;desc="{outcome}"')
    parts.append(f"total;dur={total_seconds * 1000:.2f}")
    return ", ".join(parts).encode()


class Monitoring:
    def __init__(
        self,
        app: ASGIApp,
        *,
        slow_ms: float = 100.0,
        expose_worker: bool = False,
        node: str = "",
    ) -> None:
        self.app = app
        self.slow_seconds = slow_ms / 1000
        # Settings.expose_worker (tests): name the serving process and node on every answer.
        self._worker = (
            [
                (b"x-careslot-worker", str(os.getpid()).encode()),
                (b"x-careslot-node", node.encode("ascii", "replace")),
            ]
            if expose_worker
            else []
        )
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t = timing.RequestTiming()
        token = timing.current.set(t)
        method = scope["method"]
        api = scope["path"].startswith("/api/")
        held: Message | None = None
        status = 500

        def finish_headers(message: Message, extra: list[tuple[bytes, bytes]]) -> Message:
            headers = list(message.get("headers", ()))
            headers.extend(extra)
            headers.extend(self._worker)
            if api:
                headers.append(
                    (b"server-timing", server_timing(t, time.perf_counter() - t.started))
                )
            return {**message, "headers": headers}

        async def monitored_send(message: Message) -> None:
            nonlocal held, status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                # An answer with its own ETag (a cached answer, a static file) has answered
                # If-None-Match itself; the others' ETag is a hash of their body.
                if method == "GET" and status == 200 and _bufferable(headers):
                    held = message  # wait for the body
                    return
                await send(finish_headers(message, []))
                return
            if kind != "http.response.body" or held is None:
                await send(message)
                return
            start, held = held, None
            if message.get("more_body", False):  # chunked after all: no ETag, no buffering
                await send(finish_headers(start, []))
                await send(message)
                return
            etag = body_etag(message.get("body", b""))
            extra = [(b"etag", etag)]
            if_none_match = header(scope["headers"], b"if-none-match")
            if if_none_match is not None and none_match(if_none_match, etag):
                status = 304
                kept = [(k, v) for k, v in start["headers"] if k.lower() not in DROPPED_ON_304]
                await send(finish_headers({**start, "status": 304, "headers": kept}, extra))
                await send({"type": "http.response.body", "body": b""})
                return
            await send(finish_headers(start, extra))
            await send(message)

        try:
            await self.app(scope, receive, monitored_send)
        finally:
            timing.current.reset(token)
            self._observe(scope, method, status, t)

    def _observe(self, scope: Scope, method: str, status: int, t: timing.RequestTiming) -> None:
        elapsed = time.perf_counter() - t.started
        route = route_label(scope)
        key = (method if method in KNOWN_METHODS else "OTHER", route)
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms[key] = metrics.REQUEST_SECONDS.labels(*key)
        histogram.observe(elapsed)
        if status == 304:
            metrics.NOT_MODIFIED.labels(route).inc()
        if elapsed >= self.slow_seconds:
            metrics.SLOW_REQUESTS.labels(route).inc()
            log.warning(
                orjson.dumps(
                    {
                        "event": "slow_request",
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "db_ms": round(t.db_seconds * 1000, 2),
                        "db_queries": t.db_queries,
                        "cache": cache_outcome(t),
                    }
                ).decode()
            )


def _bufferable(headers: Any) -> bool:
    """A JSON answer with a known length and no ETag yet: one body message, safe and cheap
    to hold and hash."""
    length = kind = None
    for key, value in headers:
        name = key.lower()
        if name == b"etag":
            return False
        if name == b"content-length":
            length = value
        elif name == b"content-type":
            kind = value
    if length is None or not length.isdigit() or int(length) > MAX_HASHED_BODY:
        return False
    return kind is not None and kind.startswith(b"application/json")
