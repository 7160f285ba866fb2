"""CARESLOT_CHANGE_NOTICE_MINUTES: a patient's late cancel or reschedule is 409
change_window_closed; staff are exempt, and the exemption is audited. Time is moved on the
server's clock, never slept through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.helpers import PASSWORD, assert_problem, book, query, register
from tests.conftest import LiveServer
from tests.scheduling.admin_steps import at, clinic, day_after_tomorrow, fresh_server, staff

NOTICE = 120


@pytest.fixture
def windowed(admin_url: str, template_url: str) -> Iterator[LiveServer]:
    with fresh_server(admin_url, template_url, change_notice_minutes=NOTICE) as live:
        yield live


def test_late_changes_are_refused_to_patients_and_audited_for_staff(windowed: LiveServer) -> None:
    live = windowed
    place = clinic(live)
    day = day_after_tomorrow(live)
    patient_id, token = register(live)
    email = query(live, "select email from users where id = $1", patient_id)[0][0]
    with live.client(token) as patient:
        early = book(patient, place.doctor_id, at(live, day, 9).isoformat()).json()
        late = book(patient, place.doctor_id, at(live, day, 10).isoformat()).json()
        spare = book(patient, place.doctor_id, at(live, day, 11).isoformat()).json()
        # Well before the window: a patient may still change.
        r = patient.patch(f"/api/appointments/{spare['id']}", json={"status": "cancelled"})
        assert r.status_code == 200, r.text

    # 08:30 on the day: both appointments start within two hours, neither has started.
    live.clock.set(at(live, day, 8, 30))
    with live.client(live.login(email, PASSWORD)) as patient:  # yesterday's session expired
        for appointment in (early, late):
            r = patient.patch(
                f"/api/appointments/{appointment['id']}", json={"status": "cancelled"}
            )
            assert_problem(r, 409, "change_window_closed")
        r = patient.patch(
            f"/api/appointments/{late['id']}", json={"start": at(live, day, 11).isoformat()}
        )
        assert_problem(r, 409, "change_window_closed")
        assert patient.get(f"/api/appointments/{late['id']}").json()["status"] == "scheduled"

    with staff(live) as c:
        r = c.patch(f"/api/appointments/{late['id']}", json={"status": "cancelled"})
        assert r.status_code == 200, r.text
    staff_id = query(live, "select id from users where email = 'staff@demo.careslot'")[0][0]
    audit = query(
        live,
        "select actor_id, subject_id, action, doctor_id from audit_log "
        "where entity = 'appointment' and entity_id = $1 and action like 'exempt:%'",
        late["id"],
    )
    assert [tuple(r) for r in audit] == [
        (staff_id, patient_id, "exempt:change_window", place.doctor_id)
    ]


def test_window_off_by_default(live: LiveServer) -> None:
    place = clinic(live)
    day = day_after_tomorrow(live)
    patient_id, token = register(live)
    email = query(live, "select email from users where id = $1", patient_id)[0][0]
    with live.client(token) as patient:
        booked = book(patient, place.doctor_id, at(live, day, 9).isoformat()).json()
    live.clock.set(at(live, day, 8, 59))
    with live.client(live.login(email, PASSWORD)) as patient:
        r = patient.patch(f"/api/appointments/{booked['id']}", json={"status": "cancelled"})
        assert r.status_code == 200, r.text
