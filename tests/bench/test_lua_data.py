"""The bench's Lua data file loads in wrk at the full bench's size: LuaJIT refuses a function
with more than 65,536 constants, and the full bench's booking plans alone held about
100,000 table literals (`careslot bench --appointments 1000000` failed in its warm-up)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from careslot.bench.population import Population, write_lua_data

IN_CI = os.environ.get("CI") == "true"
PLANNED = 70_000  # bookings per plan: more table literals than one function may hold

PROBE = """
local D = dofile(os.getenv("CARESLOT_TEST_DATA"))
function done()
  io.write(string.format("LOADED %d %d %s %d %d\\n", #D.plans.off, #D.plans.on,
                         D.plans.on[#D.plans.on][3], #D.all_slots, D.patient_by_id[7].id))
end
"""


def _start(i: int) -> str:
    return (dt.datetime(2027, 2, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=20 * i)).isoformat()


def test_a_full_size_data_file_loads_in_wrk(tmp_path: Path, httpserver: HTTPServer) -> None:
    if shutil.which("wrk") is None:
        if IN_CI:
            pytest.fail("wrk is missing in CI (.ci/run installs it)")
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    population = Population(
        patients=[{"id": i, "email": f"p{i}@seed", "token": f"t{i}"} for i in range(1, 121)],
        staff=["staff-token"],
        doctors=[{"id": d, "department": 1} for d in range(1, 41)],
        departments=[1],
        days=["2027-02-01"],
        slots=[(1 + i % 40, _start(i)) for i in range(10_000)],
        plans={
            mode: [[1 + i % 120, 1 + i % 40, _start(i + shift)] for i in range(PLANNED)]
            for mode, shift in (("off", 0), ("on", PLANNED))
        },
        today=dt.date(2027, 1, 30),
        source="test",
    )
    data = write_lua_data(
        tmp_path / "data.lua", population, run_id="t", book_slots=population.slots[:4000]
    )
    probe = tmp_path / "probe.lua"
    probe.write_text(PROBE)
    httpserver.expect_request("/").respond_with_data("ok")
    done = subprocess.run(  # noqa: S603 - wrk with our own arguments
        ["wrk", "-t1", "-c1", "-d1s", "-s", str(probe), httpserver.url_for("/")],  # noqa: S607
        env={**os.environ, "CARESLOT_TEST_DATA": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    last = _start(2 * PLANNED - 1)
    assert f"LOADED {PLANNED} {PLANNED} {last} 10000 7" in done.stdout, done.stdout + done.stderr
