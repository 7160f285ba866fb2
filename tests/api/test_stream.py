"""GET /api/appointments/stream: NDJSON batches of at most 100 rows, every row once."""

from __future__ import annotations

import orjson

from tests.api.helpers import assert_problem, demo_doctor_id, query, scalar
from tests.conftest import LiveServer


def test_stream_sends_every_appointment_in_batches(
    live: LiveServer, staff_token: str, patient_token: str
) -> None:
    patient_id = scalar(live, "select id from users where email = 'patient2@demo.careslot'")
    # 250 more appointments, a day apart in the past, straight into the database.
    query(
        live,
        """insert into appointments (client_id, doctor_id, department_id, starts_at,
                                             ends_at, status)
                   select $1, d.id, d.department_id,
                          now() - make_interval(days => 100 + g),
                          now() - make_interval(days => 100 + g) + interval '15 minutes',
                          'completed'
                   from doctors d, generate_series(1, 250) g where d.id = $2""",
        patient_id,
        demo_doctor_id(live, "Dr. Kenji Watanabe"),
    )
    total = scalar(live, "select count(*) from appointments")
    with live.client(staff_token) as c, c.stream("GET", "/api/appointments/stream") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert "no-store" in r.headers["cache-control"]
        lines = [line for line in r.iter_lines() if line]
    batches = [orjson.loads(line)["data"] for line in lines]
    assert all(0 < len(b) <= 100 for b in batches)
    assert len(batches) == -(-total // 100)
    ids = [row["id"] for b in batches for row in b]
    assert len(ids) == len(set(ids)) == total
    starts = [row["start"] for b in batches for row in b]
    assert starts == sorted(starts, reverse=True)  # newest first
    with live.client(patient_token) as c:
        assert_problem(c.get("/api/appointments/stream"), 403, "forbidden")
