"""Emails have one spelling: NFKC and case folding, invisible characters refused (issue 13,
item 7), so no one can register a lookalike of an existing account."""

from __future__ import annotations

import pytest

from careslot.accounts.emails import normalise
from careslot.seeding.demo import PASSWORD as DEMO_PASSWORD
from tests.api.helpers import PASSWORD, assert_problem
from tests.conftest import LiveServer


def _register(live: LiveServer, email: str) -> tuple[int, dict[str, object]]:
    with live.client() as c:
        r = c.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Lookalike"}
        )
    return r.status_code, r.json()


@pytest.mark.parametrize(
    "email",
    [
        "pa\u200btient@demo.careslot",  # zero-width space (Cf)
        "patient\u200d@demo.careslot",  # zero-width joiner (Cf)
        "\ufeffpatient@demo.careslot",  # byte-order mark (Cf)
        "pat\u00adient@demo.careslot",  # soft hyphen (Cf)
        "patient@demo\u2060.careslot",  # word joiner (Cf)
        "\u202epatient@demo.careslot",  # right-to-left override (Cf)
        "pat\x07ient@demo.careslot",  # bell (Cc)
        "pat\x7fient@demo.careslot",  # delete (Cc)
    ],
)
def test_invisible_and_control_characters_are_refused(live: LiveServer, email: str) -> None:
    with live.client() as c:
        r = c.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Lookalike"}
        )
        assert_problem(r, 422, "validation_error")
        r = c.post("/api/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert_problem(r, 422, "validation_error")


@pytest.mark.parametrize(
    "lookalike",
    [
        "PATIENT@DEMO.CARESLOT",
        "\uff50atient@demo.careslot",  # fullwidth p
        "patient@demo.caresl\u2134t",  # script small o (NFKC: o)
    ],
)
def test_a_lookalike_of_an_existing_account_is_the_same_account(
    live: LiveServer, lookalike: str
) -> None:
    status, body = _register(live, lookalike)
    assert status == 409, body
    assert body["code"] == "email_taken"
    with live.client() as c:
        r = c.post("/api/auth/login", json={"email": lookalike, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == "patient@demo.careslot"


def test_stored_email_is_normalised(live: LiveServer) -> None:
    status, body = _register(live, "  Stra\u00dfe.Name@Example.TEST ")
    assert status == 201, body
    user = body["user"]
    assert isinstance(user, dict)
    assert user["email"] == "strasse.name@example.test"
    assert _register(live, "STRASSE.name@example.test")[0] == 409


def test_normalise() -> None:
    assert normalise("\uff21\uff22@x.test") == "ab@x.test"
    assert normalise(" Mixed@Case.Test ") == "mixed@case.test"
