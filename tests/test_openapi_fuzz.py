"""Schemathesis fuzzes every operation in /openapi.json of a live server: never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.conftest import CloneDatabase, LiveServer, serving, settings_for

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def fuzz_live(clone_database: CloneDatabase) -> Iterator[LiveServer]:
    with (
        clone_database("fuzz") as url,
        serving(settings_for(url, login_failure_limit=10_000)) as server,
    ):
        yield server


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
