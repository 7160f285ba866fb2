"""Stops the embedded PostgreSQL when careslot dies, however it dies (even SIGKILL).

Started by careslot.db.embedded in a session of its own (so a TERM to careslot's process
group does not reach it), with a pipe as stdin whose only writer is careslot: when careslot
ends, the read sees EOF, and the watchdog releases careslot's use of the server, which stops
it unless another live careslot process still uses it.

    python -m careslot.db.watchdog <pgdata> <careslot pid>
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    pgdata, owner = Path(argv[0]), int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches careslot, which exits
    while sys.stdin.buffer.read(4096):
        pass  # careslot never writes; EOF means it is gone
    logging.basicConfig(level=logging.INFO, format="careslot watchdog: %(message)s")
    from careslot.db.embedded import release

    release(pgdata, owner)


if __name__ == "__main__":
    main(sys.argv[1:])
