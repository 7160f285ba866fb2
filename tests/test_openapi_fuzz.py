"""The OpenAPI document matches the API (issue 13, item 6): `schemathesis run --checks all`
passes clean against a live server with a patient's and a staff token (bounded examples, a
fixed seed), 405 answers carry the path's whole `Allow`, every problem status is documented as
application/problem+json, and ids show their bounds as minimum/maximum."""

# ruff: noqa: S603 (the test runs the installed schemathesis command)

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CloneDatabase, LiveServer, serving, settings_for

MAX_EXAMPLES = 10
ROOT = Path(__file__).resolve().parent.parent  # schemathesis.toml lives here
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.fixture(scope="module")
def fuzz_live(clone_database: CloneDatabase) -> Iterator[LiveServer]:
    with (
        clone_database("fuzz") as url,
        serving(settings_for(url, login_failure_limit=10_000)) as server,
    ):
        yield server


@pytest.fixture(scope="module")
def openapi(fuzz_live: LiveServer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{fuzz_live.url}/openapi.json").json()
    return document


@pytest.mark.slow
@pytest.mark.parametrize("email", ["patient@demo.careslot", "staff@demo.careslot"])
def test_schemathesis_all_checks_pass(fuzz_live: LiveServer, email: str) -> None:
    token = fuzz_live.login(email)
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{fuzz_live.url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "13",
            # Signing out would end the fuzzing session's token; logout has its own tests.
            "--exclude-path",
            "/api/auth/logout",
            "--no-color",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/appointments", "GET, POST"),
        ("DELETE", "/api/users/profile", "GET, PATCH"),
        ("PATCH", "/api/appointments/stream", "GET"),
        ("TRACE", "/healthz", "GET"),
    ],
)
def test_405_lists_every_method_of_the_path(
    fuzz_live: LiveServer, method: str, path: str, allowed: str
) -> None:
    r = httpx.request(method, f"{fuzz_live.url}{path}")
    assert r.status_code == 405, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["allow"] == allowed


def test_problems_are_documented(openapi: dict[str, Any]) -> None:
    assert "Problem" in openapi["components"]["schemas"]
    book = openapi["paths"]["/api/appointments"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "409", "413", "422", "503"):
        assert list(book[status]["content"]) == ["application/problem+json"], status
    login = openapi["paths"]["/api/auth/login"]["post"]["responses"]
    assert {"401", "403", "429"} <= set(login)
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/json" not in answer.get("content", {}), (method, path)


def test_ids_show_their_bounds(openapi: dict[str, Any]) -> None:
    doctor_id = openapi["components"]["schemas"]["BookIn"]["properties"]["doctorId"]
    assert doctor_id["minimum"] == 1
    assert doctor_id["maximum"] >= 2**63 - 1024  # 2**63 - 1, as JSON numbers carry it
    assert "ge" not in doctor_id
