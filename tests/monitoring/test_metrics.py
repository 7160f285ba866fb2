"""/metrics families, its operator token, and the structured slow-call log."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveServer, Serve


@pytest.fixture
def tuned_live(request: pytest.FixtureRequest, serve: Serve) -> LiveServer:
    """careslot with a few settings changed (parametrized indirectly)."""
    return serve(**request.param)


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    found: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        found[family.name] = [(s.name, s.labels, s.value) for s in family.samples]
    return found


def test_metrics_expose_every_family(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        c.get("/api/departments")
        c.get("/api/dashboard/stats")
        c.get("/api/appointments/987654321")
        assert (
            c.post(
                "/api/metrics/page-load", json={"route": "/dashboard", "fcp": 120, "lcp": 180}
            ).status_code
            == 204
        )
        text = c.get("/metrics").text
    found = families(text)
    routes = {
        labels["route"]
        for name, labels, _ in found["careslot_request_duration_seconds"]
        if name.endswith("_count")
    }
    assert {
        "/api/departments",
        "/api/dashboard/stats",
        "/api/appointments/{appointment_id}",
    } <= routes
    assert not any("987654321" in route for route in routes)  # templates, never raw paths
    db_count = [
        v for n, _, v in found["careslot_db_query_duration_seconds"] if n.endswith("_count")
    ]
    assert db_count
    assert db_count[0] > 0
    for gauge in (
        "careslot_db_pool_size",
        "careslot_db_pool_in_use",
        "careslot_db_pool_waiting",
        "careslot_db_pool_max",
        "careslot_mv_refresh_duration_seconds",
        "careslot_mv_age_seconds",
    ):
        assert gauge in found, gauge
    assert found["careslot_db_pool_size"][0][2] >= 1
    assert any(
        labels.get("route") == "/dashboard" and labels.get("metric") == "fcp"
        for _, labels, _ in found["careslot_page_load_seconds"]
    )


@pytest.mark.parametrize("tuned_live", [{"metrics_token": "op-secret"}], indirect=True)
def test_metrics_token(tuned_live: LiveServer) -> None:
    url = f"{tuned_live.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = httpx.get(url, headers={"Authorization": "Bearer op-secret"})
    assert allowed.status_code == 200
    assert "careslot_request_duration_seconds" in allowed.text


def test_metrics_open_without_token(live: LiveServer) -> None:
    assert httpx.get(f"{live.url}/metrics").status_code == 200


def _slow_records(
    caplog: pytest.LogCaptureFixture, *, until: tuple[str, ...] = ()
) -> list[dict[str, object]]:
    """The slow-call log lines so far; with `until`, first wait (up to 5 s) for those routes:
    the middleware logs once the answer has left, so the client may see it a moment before."""
    deadline = time.monotonic() + 5
    while True:
        found = [json.loads(r.getMessage()) for r in caplog.records if r.name == "careslot.slow"]
        if {str(f["route"]) for f in found} >= set(until) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


@pytest.mark.parametrize("tuned_live", [{"slow_ms": 0.0}], indirect=True)
def test_slow_calls_are_logged_as_json(
    tuned_live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="careslot.slow")
    with tuned_live.client() as c:
        assert c.get("/api/doctors/1/schedule").status_code == 401
        assert c.get("/api/departments").status_code == 200
    records = _slow_records(caplog, until=("/api/departments", "/api/doctors/{doctor_id}/schedule"))
    by_route = {r["route"]: r for r in records}
    entry = by_route["/api/departments"]
    assert entry["event"] == "slow_request"
    assert entry["status"] == 200
    assert isinstance(entry["duration_ms"], float | int)
    assert entry["duration_ms"] >= 0
    assert "cache" in entry
    assert "db_ms" in entry
    assert by_route["/api/doctors/{doctor_id}/schedule"]["status"] == 401
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "careslot.slow")


@pytest.mark.parametrize("tuned_live", [{"slow_ms": 600_000.0}], indirect=True)
def test_fast_calls_are_not_logged(
    tuned_live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="careslot.slow")
    with tuned_live.client() as c:
        assert c.get("/api/departments").status_code == 200
    assert _slow_records(caplog) == []
