"""PostgreSQL restarts under a running careslot: requests get 503 problem+json while it is
down, careslot recovers by itself when it is back, and no committed booking is lost."""

from __future__ import annotations

import time
from typing import Any

from tests.api.helpers import demo_doctor_id, free_slots
from tests.conftest import LiveServer
from tests.db.conftest import pg_ctl, pg_start


def test_postgres_restart_is_503_then_recovers(
    live_on_own_postgres: LiveServer, own_postgres: Any
) -> None:
    live = live_on_own_postgres
    token = live.login("patient@demo.careslot")
    doctor_id = demo_doctor_id(live)
    with live.client(token) as c:
        start = free_slots(live, doctor_id)[0]["start"]
        booked = c.post("/api/appointments", json={"doctorId": doctor_id, "start": start})
        assert booked.status_code == 201, booked.text

        pg_ctl(own_postgres, "stop", "-m", "fast")
        down = c.get("/api/appointments", params={"limit": 5})
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["code"] == "unavailable"
        assert c.get("/readyz").status_code == 503

        pg_start(own_postgres)
        answers: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = c.get(f"/api/appointments/{booked.json()['id']}")
            answers.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503, r.text
            time.sleep(0.2)
        assert answers[-1] == 200, answers
        assert r.json()["start"] == booked.json()["start"]
        assert c.get("/readyz").status_code == 200
        again = c.post("/api/appointments", json={"doctorId": doctor_id, "start": start})
    assert again.status_code == 409  # the booking survived the restart
