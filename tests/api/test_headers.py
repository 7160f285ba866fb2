"""Security headers on every answer (SPEC section 3), errors included."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer


@pytest.mark.parametrize(
    "path", ["/healthz", "/api/departments", "/api/appointments", "/api/nope", "/openapi.json"]
)
def test_security_headers(live: LiveServer, path: str) -> None:
    with live.client() as c:
        r = c.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_problem_answers_are_not_cached(live: LiveServer) -> None:
    with live.client() as c:
        r = c.get("/api/appointments")
    assert r.status_code == 401
    assert "no-store" in r.headers["cache-control"]
    assert "public" not in r.headers["cache-control"]
