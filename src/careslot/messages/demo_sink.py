"""`careslot serve --demo` without a mail server: a local SMTP sink on loopback (aiosmtpd),
so a new user sees mail work. Each message is saved as an .eml file, and the outbox's
/admin/messages page shows it sent."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        name = f"{self.count:06d}-{envelope.rcpt_tos[0].replace('/', '_')}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 OK: kept by the careslot demo sink"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_demo_sink(folder: Path) -> tuple[Controller, str]:
    """Start the sink in its own thread; returns it and its smtp:// URL."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    controller = Controller(_SaveToFolder(folder), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, f"smtp://127.0.0.1:{port}"
