"""The command line, tested by running it (serve, migrate, users create)."""

# ruff: noqa: S603 (the tests run our own installed command)

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

import careslot
from careslot.cache.generations import TABLE_PREFIX
from tests.conftest import _admin, free_port, with_database

CARESLOT = str(Path(sys.executable).parent / "careslot")


@pytest.fixture
def empty_database(admin_url: str) -> Iterator[str]:
    """A database with nothing in it: the CLI must build everything itself."""
    name = f"careslot_cli_{os.getpid()}_{time.monotonic_ns()}"
    asyncio.run(_admin(admin_url, f"create database {name}"))
    yield with_database(admin_url, name)
    asyncio.run(_admin(admin_url, f"drop database if exists {name} with (force)"))


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CARESLOT_DATA_DIR": str(tmp_path),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARESLOT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def _wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"careslot serve exited early:\n{out}\n{err}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("careslot serve did not become healthy")


@pytest.mark.slow
def _serve(arguments: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """`careslot serve` with these arguments, its output captured; in a process group of its
    own, so that `_stop` can kill its workers too."""
    return subprocess.Popen(
        [CARESLOT, "serve", *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[str, str]:
    """Send `sig` and collect what the server printed. If it does not stop in 20 s, kill its
    whole process group and fail: a worker left alive would otherwise keep the output pipes
    open, and the suite would wait on them for ever."""
    process.send_signal(sig)
    try:
        return process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=20)
        raise


def test_serve_demo_then_ctrl_c(empty_database: str, tmp_path: Path) -> None:
    port = free_port()
    process = _serve(["--demo", "--port", str(port)], _env(empty_database, tmp_path))
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, process)
        r = httpx.post(
            f"{base}/api/auth/login",
            json={"email": "patient@demo.careslot", "password": "careslot-demo"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["user"]["role"] == "patient"
        token = r.json()["token"]
        r = httpx.get(f"{base}/api/appointments", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json()["items"], "the demo patient has appointments"
        assert httpx.get(f"{base}/readyz").json()["database"] == "ok"
    finally:
        out, err = _stop(process, signal.SIGINT)
    assert process.returncode == 0, err
    assert "patient@demo.careslot" in out
    assert "careslot-demo" in out
    assert f"127.0.0.1:{port}" in out
    assert "Traceback" not in err


def test_serve_under_granian_answers_and_stops_on_sigterm(
    empty_database: str, tmp_path: Path
) -> None:
    """`careslot serve --server granian`: migrations, answers, and a clean exit on SIGTERM
    (its node table removed)."""
    port = free_port()
    arguments = ["--server", "granian", "--workers", "2", "--port", str(port)]
    process = _serve(arguments, _env(empty_database, tmp_path))
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, process)
        assert httpx.get(f"{base}/readyz").json()["database"] == "ok"
        assert httpx.get(f"{base}/api/departments").status_code == 200
    finally:
        out, err = _stop(process, signal.SIGTERM)
    assert process.returncode == 0, err
    assert f"127.0.0.1:{port} (2 worker(s), granian)" in out
    assert "Traceback" not in err
    shm = Path("/dev/shm")  # noqa: S108 - where careslot serve keeps its node table
    assert not list(shm.glob(f"{TABLE_PREFIX}{process.pid}-*"))


def test_migrate_is_idempotent(empty_database: str, tmp_path: Path) -> None:
    env = _env(empty_database, tmp_path)
    first = _run(["migrate"], env)
    assert first.returncode == 0, first.stderr
    shipped = len(list((Path(careslot.__file__).parent / "migrations").glob("*.sql")))
    assert f"{shipped} migration(s) applied" in first.stdout
    again = _run(["migrate"], env)
    assert again.returncode == 0, again.stderr
    assert "0 migration(s) applied" in again.stdout
    tables = asyncio.run(
        _fetch(empty_database, "select tablename from pg_tables where schemaname = 'public'")
    )
    assert {"appointments", "users", "sessions", "working_hours"} <= {
        t["tablename"] for t in tables
    }


def test_users_create(empty_database: str, tmp_path: Path) -> None:
    env = _env(empty_database, tmp_path)
    r = _run(
        [
            "users",
            "create",
            "--email",
            "nurse@test.careslot",
            "--password",
            "long-enough-pw",
            "--role",
            "staff",
            "--name",
            "Nina Nurse",
        ],
        env,
    )
    assert r.returncode == 0, r.stderr
    assert "created staff" in r.stdout
    rows = asyncio.run(_fetch(empty_database, "select email, name, role, password_hash from users"))
    assert [(u["email"], u["name"], u["role"]) for u in rows] == [
        ("nurse@test.careslot", "Nina Nurse", "staff")
    ]
    assert rows[0]["password_hash"].startswith("$argon2id$")
    assert "long-enough-pw" not in rows[0]["password_hash"]

    duplicate = _run(
        [
            "users",
            "create",
            "--email",
            "NURSE@test.careslot",
            "--password",
            "long-enough-pw",
            "--role",
            "staff",
        ],
        env,
    )
    assert duplicate.returncode == 1
    assert "exists" in duplicate.stdout
    for bad in (["--role", "wizard"], ["--password", "short"]):
        args = {"--email": "x@test.careslot", "--password": "long-enough-pw", "--role": "patient"}
        args[bad[0]] = bad[1]
        result = _run(["users", "create", *[v for kv in args.items() for v in kv]], env)
        assert result.returncode == 1, (bad, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
    count = asyncio.run(_fetch(empty_database, "select count(*) from users"))
    assert count[0][0] == 1


def test_help_lists_the_commands(tmp_path: Path) -> None:
    r = subprocess.run(
        [CARESLOT, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    assert r.returncode == 0
    for command in ("serve", "migrate", "seed", "users"):
        assert command in r.stdout
