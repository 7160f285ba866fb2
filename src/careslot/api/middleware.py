"""Pure ASGI middleware: body size limit and security headers (cheap on the hot path)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careslot.api.responses import problem_body
from careslot.errors import PayloadTooLarge

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
]


class _TooLarge(Exception):
    pass


class SecurityAndLimits:
    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = True
                if not value.isdigit() or int(value) > self.max_body:
                    await _send_413(send)
                    return
        if not declared and scope["method"] in UNSAFE:
            # A chunked body must be measured before the app reads it: FastAPI turns any
            # error raised while it reads a body into a 400.
            buffered = await _read_limited(receive, self.max_body)
            if buffered is None:
                await _send_413(send)
                return
            receive = _replay(buffered, receive)
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLarge
            return message

        async def secure_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        try:
            await self.app(scope, limited_receive, secure_send)
        except _TooLarge:
            if not started:
                await _send_413(send)


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _read_limited(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it grows past `limit`."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)  # disconnected: let the app see an empty body
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_413(send: Send) -> None:
    error = PayloadTooLarge("request bodies are limited to 1 MiB")
    body = problem_body(error.status, error.code, error.title, error.detail)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
