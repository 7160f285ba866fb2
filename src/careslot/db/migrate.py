"""Versioned SQL migrations (yoyo-migrations) shipped inside the package."""

from __future__ import annotations

import warnings
from importlib.resources import files


def _yoyo_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in {"postgres", "postgresql"} else url


def apply_migrations(database_url: str) -> int:
    """Apply pending migrations; returns how many were applied. Safe to run concurrently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yoyo import get_backend, read_migrations  # type: ignore[import-untyped]

        backend = get_backend(_yoyo_url(database_url))
        migrations = read_migrations(str(files("careslot") / "migrations"))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        backend.connection.close()
    return len(pending)


def shipped_migrations() -> list[str]:
    """The ids of the migrations this package carries (yoyo's ids: file names less .sql)."""
    folder = files("careslot") / "migrations"
    return sorted(
        entry.name.removesuffix(".sql")
        for entry in folder.iterdir()
        if entry.name.endswith(".sql") and not entry.name.endswith(".rollback.sql")
    )


PENDING = """select count(*) from unnest($1::text[]) as shipped(id)
             where not exists (select 1 from _yoyo_migration where migration_id = shipped.id)"""
