"""Where the database is: DATABASE_URL, or the embedded server."""

from __future__ import annotations

import os

from careslot.config import Settings


def resolve_database_url(settings: Settings, *, supervise: bool = False) -> str:
    """DATABASE_URL, or the embedded server's (restarted when it dies, with `supervise`)."""
    if settings.database_url:
        return settings.database_url
    from careslot.db.embedded import start_embedded

    url = start_embedded(settings.data_dir, supervise=supervise)
    # Worker processes and child commands share this server instead of starting their own.
    os.environ["DATABASE_URL"] = url
    return url
