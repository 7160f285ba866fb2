"""The HTTP server that runs careslot's ASGI app: uvicorn (httptools, uvloop) by default, or
granian (`CARESLOT_SERVER=granian`), kept to compare the two in our own bench (README: "The
write path (issue 14)": granian answered tiny cached reads faster and booked slower)."""

from __future__ import annotations

import enum

APP = "careslot.app:create_app"


class Server(enum.StrEnum):
    uvicorn = "uvicorn"
    granian = "granian"


def run(server: Server, *, host: str, port: int, workers: int, log_level: str) -> None:
    if server is Server.granian:
        _granian(host, port, workers, log_level)
    else:
        _uvicorn(host, port, workers, log_level)


def _uvicorn(host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=False,
        # The peer address is the TCP peer's: X-Forwarded-For is believed only from
        # CARESLOT_TRUSTED_PROXIES (accounts/limits.py), not from uvicorn's default 127.0.0.1.
        proxy_headers=False,
    )


def _granian(host: str, port: int, workers: int, log_level: str) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    # Granian's ASGI scope names the TCP peer as the client (it rewrites nothing from proxy
    # headers unless wrapped for it), so accounts/limits.py decides alone, as with uvicorn.
    Granian(
        APP,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels(log_level),
        log_access=False,
    ).serve()
