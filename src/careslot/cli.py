"""careslot serve | migrate | seed | users create | bench."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.console import Console

from careslot import serving
from careslot.cache.generations import shared_by_workers
from careslot.config import get_settings
from careslot.db.migrate import apply_migrations
from careslot.db.urls import resolve_database_url

app = typer.Typer(help="careslot: hospital appointment booking", no_args_is_help=True)
users_app = typer.Typer(help="Manage user accounts")
app.add_typer(users_app, name="users")
db_app = typer.Typer(help="Database tools")
app.add_typer(db_app, name="db")
console = Console()


def _database(*, supervise: bool = False) -> str:
    url = resolve_database_url(get_settings(), supervise=supervise)
    apply_migrations(get_settings().database_direct_url or url)  # never through a pooler
    return url


def _demo_mail(host: str, port: int) -> None:
    """With no CARESLOT_SMTP_URL, a loopback sink catches the demo's mail (every worker
    inherits its URL through the environment)."""
    import os

    settings = get_settings()
    if settings.smtp_url:
        console.print(f"Mail goes to {settings.smtp_url}")
        return
    from careslot.messages.demo_sink import start_demo_sink

    folder = (settings.data_dir / "demo-mail").resolve()
    _, url = start_demo_sink(folder)
    os.environ["CARESLOT_SMTP_URL"] = url
    get_settings.cache_clear()
    console.print(
        f"Demo mail: a local SMTP sink on {url} keeps every message in {folder};\n"
        f"  staff see what was sent at http://{host}:{port}/admin/messages"
    )


@app.command()
def migrate() -> None:
    """Apply pending schema migrations."""
    url = resolve_database_url(get_settings())
    applied = apply_migrations(url)
    console.print(f"[green]{applied} migration(s) applied[/green]")


async def _seed_demo(url: str) -> bool:
    from careslot.seeding.demo import seed_demo

    conn = await asyncpg.connect(url)
    try:
        return await seed_demo(conn, get_settings())
    finally:
        await conn.close()


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, max=32)] = 1,
    demo: Annotated[bool, typer.Option(help="Seed the demo hospital on first start")] = False,
    log_level: str = "warning",
    server: Annotated[
        serving.Server | None,
        typer.Option(help="uvicorn (the default) or granian; else CARESLOT_SERVER"),
    ] = None,
) -> None:
    """Run the HTTP service (applies migrations first)."""
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler it found:
    # make that an ordinary exit, so the embedded PostgreSQL is stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    url = _database(supervise=True)
    if demo:
        from careslot.seeding.demo import LOGINS, PASSWORD

        loaded = asyncio.run(_seed_demo(url))
        console.print("[green]Demo hospital loaded[/green]" if loaded else "Demo hospital ready")
        for email, name, role in LOGINS:
            console.print(f"  {role:8} {email:28} password: {PASSWORD}  ({name})")
        _demo_mail(host, port)
    server = server or get_settings().server
    console.print(f"careslot on [bold]http://{host}:{port}[/bold] ({workers} worker(s), {server})")
    # The workers share one cache generation table: a write in one is then stale in the
    # others at once, without waiting for them (cache/generations.py).
    with shared_by_workers(workers):
        serving.run(server, host=host, port=port, workers=workers, log_level=log_level)


@app.command()
def sender() -> None:
    """Send the outbox's mail and webhooks (beside `serve` with CARESLOT_OUTBOX_SENDER=false)."""
    from careslot.messages.sender import run_alone

    url = _database()
    console.print("careslot outbox sender running")
    settings = get_settings()
    with contextlib.suppress(KeyboardInterrupt):  # its leader lock needs a session: direct
        asyncio.run(run_alone(settings.database_direct_url or url, settings))


@app.command()
def seed(
    appointments: Annotated[int, typer.Option(min=0)] = 10_000,
    patients: Annotated[int | None, typer.Option(min=1)] = None,
    doctors: Annotated[int | None, typer.Option(min=1)] = None,
    seed_value: Annotated[int, typer.Option("--seed")] = 42,
) -> None:
    """Load a realistic synthetic hospital with PostgreSQL COPY."""
    from careslot.seeding.bulk import run_bulk_seed

    url = _database()
    run_bulk_seed(
        url,
        get_settings(),
        appointments=appointments,
        patients=patients,
        doctors=doctors,
        seed=seed_value,
        console=console,
    )


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option()] = "patient",
    name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a user account."""
    from careslot.accounts.service import create_user
    from careslot.audit.log import AuditLog
    from careslot.context import Context
    from careslot.db.pool import create_pool
    from careslot.errors import CareslotError

    url = _database()

    async def create() -> None:
        pool = await create_pool(get_settings(), url)
        ctx = Context(settings=get_settings(), pool=pool, audit=AuditLog(pool))
        try:
            user = await create_user(
                ctx, email=email, password=password, name=name or email.split("@")[0], role=role
            )
            console.print(f"[green]created {user.role} #{user.id} {user.email}[/green]")
        finally:
            await pool.close()

    try:
        asyncio.run(create())
    except CareslotError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def bench(
    appointments: Annotated[int | None, typer.Option(min=1, help="Database size")] = None,
    duration: Annotated[float | None, typer.Option(min=1, help="Mixed run, seconds")] = None,
    connections: Annotated[int | None, typer.Option(min=2, max=1024)] = None,
    workers: Annotated[int, typer.Option(min=1, max=32)] = 2,
    out: Annotated[Path, typer.Option(help="Report directory")] = Path("bench-out"),
    quick: Annotated[bool, typer.Option(help="CI smoke run, under 2 minutes")] = False,
    reuse_db: Annotated[bool, typer.Option(help="Reuse careslot_bench_<N> if present")] = False,
    database: Annotated[str | None, typer.Option(help="Bench this existing database")] = None,
    scale: Annotated[bool, typer.Option(help="Dashboard and slots p50 at 10k/100k/1M")] = False,
) -> None:
    """Measure the guide's Expected Results table: cache off vs on, with wrk."""
    from careslot.bench.command import run_command

    raise typer.Exit(
        run_command(
            appointments=appointments,
            duration=duration,
            connections=connections,
            workers=workers,
            out=out,
            quick=quick,
            reuse_db=reuse_db,
            database=database,
            scale=scale,
            console=console,
        )
    )


@db_app.command("top")
def db_top(limit: Annotated[int, typer.Option(min=1, max=1000)] = 10) -> None:
    """The slowest statements by mean time, from pg_stat_statements."""
    from careslot.db.top import StatementsUnavailable, render, top_statements

    url = resolve_database_url(get_settings())
    try:
        rows = asyncio.run(top_statements(url, limit=limit))
    except StatementsUnavailable as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(1) from exc
    console.print(render(rows))


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()
