"""`careslot bench --quick` run as CI runs it: a real server, real wrk, a real database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("wrk") is None:
        if IN_CI:
            pytest.fail("wrk is missing in CI (.ci/run installs it)")
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "CARESLOT_DATA_DIR": str(out / "data")}
    careslot = shutil.which("careslot") or str(Path(sys.executable).with_name("careslot"))
    command = [careslot, "bench", "--quick", "--out", str(out)]
    done = subprocess.run(  # noqa: S603 - our own command line
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_report_is_well_formed_with_both_columns(quick_report: Path) -> None:
    report = json.loads((quick_report / "report.json").read_text())
    summary = report["summary"]
    for column in ("before", "after"):
        mode = summary[column]
        assert mode["rps"] > 0
        routes = mode["routes"]
        assert all(routes[name]["requests"] > 0 for name in ("dashboard", "slots", "writes"))
        for route in routes.values():  # slow groups (the stream) may finish nothing when short
            if route["requests"]:
                assert route["p50"] <= route["p95"] <= route["p99"]
        assert mode["floor"]["rps"] > 0
        assert mode["write_to_visible"]["tries"] > 0
    assert report["modes"]["before"]["cache"] == "off"
    assert report["modes"]["after"]["cache"] == "on"
    assert summary["before"]["cache"]["hit_rate"] is None  # cache off answers from PostgreSQL
    assert summary["after"]["cache"]["hit_rate"] is not None
    assert report["options"]["quick"] is True
    assert report["machine"]["cores_logical"] >= 1


def test_no_double_bookings_and_bookings_happened(quick_report: Path) -> None:
    report = json.loads((quick_report / "report.json").read_text())
    assert report["double_bookings"]["total"] == 0
    assert set(report["double_bookings"]["by_mode"]) == {"off", "on"}  # each copy checked
    assert report["summary"]["after"]["bookings_burst"]["booked"] > 0


@pytest.mark.parametrize("column", ["before", "after"])
def test_every_write_is_visible_at_once_and_nothing_is_stale(
    quick_report: Path, column: str
) -> None:
    """The bench's write-to-visible probe (bench/visibility.py): after each 201, rounds of
    simultaneous reads on fresh connections (every worker); not one may show the old answer,
    and every booking must be visible within 2 s."""
    visible = json.loads((quick_report / "report.json").read_text())["summary"][column][
        "write_to_visible"
    ]
    assert visible["tries"] > 0
    assert visible["reads_after_201"] >= visible["tries"] * visible["reads_per_round"]
    assert visible["stale_reads_after_201"] == 0, visible["failures"]
    assert visible["not_visible_within_2s"] == 0, visible["failures"]
    assert visible["first_round_all_fresh"] == visible["tries"]


def test_markdown_and_chart_written(quick_report: Path) -> None:
    markdown = (quick_report / "report.md").read_text()
    assert "| Dashboard load" in markdown
    assert "Cache hit rate" in markdown
    chart = quick_report / "bench.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_both_modes_start_from_the_same_database(quick_report: Path) -> None:
    """Each mode on its own copy of the bench database: cache on does not start from cache
    off's bookings (a --quick run's cache-off mode books thousands)."""
    report = json.loads((quick_report / "report.json").read_text())
    off, on = (report["modes"][column]["database"] for column in ("before", "after"))
    base = report["database"]["name"]
    assert off["name"] != on["name"]
    assert base not in (off["name"], on["name"])
    assert off["appointments_at_start"] == on["appointments_at_start"]
    assert on["appointments_at_start"] >= report["database"]["appointments"]
    assert report["summary"]["before"]["bookings_16"]["booked"] > 0  # off did write
