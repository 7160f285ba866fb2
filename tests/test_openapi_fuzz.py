"""Schemathesis fuzzes every operation in /openapi.json of a live server: never a 5xx."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from careslot.config import Settings
from tests.conftest import LiveServer, _admin, serve_in_thread, with_database

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def fuzz_live(admin_url: str, template_url: str) -> Iterator[LiveServer]:
    template = urlsplit(template_url).path.lstrip("/")
    name = f"careslot_fuzz_{os.getpid()}"
    asyncio.run(
        _admin(
            admin_url,
            f"drop database if exists {name} with (force)",
            f"create database {name} template {template}",
        )
    )
    url = with_database(admin_url, name)
    yield from serve_in_thread(
        Settings(database_url=url, redis_url=None, login_failure_limit=10_000)
    )
    asyncio.run(_admin(admin_url, f"drop database if exists {name} with (force)"))


@pytest.fixture(scope="module")
def patient_headers(fuzz_live: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {fuzz_live.login('patient@demo.careslot')}"}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(
    fuzz_live: LiveServer, patient_headers: dict[str, str], mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_live.url}/openapi.json")
    # Signing out would end the fuzzing session's token; logout has its own tests.
    schema = schema.exclude(path="/api/auth/logout")
    failures: dict[str, str] = {}
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                base_url=fuzz_live.url, headers=patient_headers, checks=[not_a_server_error]
            )

        try:
            fuzz()
        except Unsatisfiable:
            continue  # nothing negative to send (an operation without parameters)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert "POST /api/appointments" in labels
    assert "GET /api/slots" in labels
    assert failures == {}
