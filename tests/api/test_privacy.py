"""One patient's data never reaches another, by any route; staff see all, doctors their own."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.api.helpers import (
    CACHE_CONTROL,
    assert_problem,
    book,
    demo_doctor_id,
    free_slots,
    query,
    register,
    scalar,
)
from tests.conftest import LiveServer

SECRET = "Secret-reason-7f3a"  # noqa: S105 (a visit reason, not a password)


@pytest.fixture
def victim(live: LiveServer) -> dict[str, Any]:
    """A patient with one appointment whose reason and name must not leak."""
    victim_id, token = register(live, name="Victoria Victim")
    doctor_id = demo_doctor_id(live, "Dr. Lena Fischer")
    slot = free_slots(live, doctor_id)[0]
    with live.client(token) as c:
        r = book(c, doctor_id, slot["start"], reason=SECRET)
    assert r.status_code == 201, r.text
    return {"id": victim_id, "token": token, "appointment": r.json(), "doctorId": doctor_id}


def _leaks(text: str) -> bool:
    return SECRET in text or "Victoria" in text


def test_another_patient_sees_nothing(live: LiveServer, victim: dict[str, Any]) -> None:
    _, token = register(live, name="Nosy Neighbour")
    appointment = victim["appointment"]
    path = f"/api/appointments/{appointment['id']}"
    month = dt.datetime.fromisoformat(appointment["start"]).strftime("%Y-%m")
    with live.client(token) as c:
        answers = [
            assert_problem(c.get(path), 404, "not_found"),
            assert_problem(c.patch(path, json={"status": "cancelled"}), 404, "not_found"),
            assert_problem(c.patch(path, json={"start": appointment["start"]}), 404),
            assert_problem(
                c.get("/api/dashboard/stats", params={"clientId": victim["id"]}), 403, "forbidden"
            ),
            assert_problem(
                c.get("/api/appointments", params={"clientId": victim["id"]}), 403, "forbidden"
            ),
            assert_problem(
                c.get("/api/calendar", params={"month": month, "doctorId": victim["doctorId"]}),
                403,
                "forbidden",
            ),
            assert_problem(c.get("/api/appointments/stream"), 403, "forbidden"),
            assert_problem(c.get(f"/api/doctors/{victim['doctorId']}/schedule"), 403),
            # A booking in the victim's name is refused.
            assert_problem(
                book(c, victim["doctorId"], appointment["start"], clientId=victim["id"]),
                403,
                "forbidden",
            ),
        ]
        own = [
            c.get("/api/appointments").json(),
            c.get("/api/calendar", params={"month": month}).json(),
            c.get("/api/activity").json(),
            c.get("/api/dashboard/stats").json(),
        ]
    assert not any(_leaks(str(a)) for a in answers)
    assert own[0]["items"] == []
    assert own[1]["items"] == []
    assert own[2]["items"] == []
    assert own[3]["data"]["recentAppointments"] == []
    assert not any(_leaks(str(o)) for o in own)
    # Nothing changed.
    assert (
        scalar(live, "select status from appointments where id = $1", appointment["id"])
        == "scheduled"
    )


def test_unknown_ids_look_like_other_peoples(live: LiveServer, victim: dict[str, Any]) -> None:
    """A 404 for someone else's id is indistinguishable from one for an id that never was."""
    _, token = register(live)
    with live.client(token) as c:
        theirs = c.get(f"/api/appointments/{victim['appointment']['id']}")
        nobody = c.get("/api/appointments/999999")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json() == nobody.json()


def test_staff_see_everything(live: LiveServer, victim: dict[str, Any], staff_token: str) -> None:
    appointment = victim["appointment"]
    with live.client(staff_token) as c:
        assert c.get(f"/api/appointments/{appointment['id']}").json()["reason"] == SECRET
        listed = c.get("/api/appointments", params={"clientId": victim["id"]}).json()
        assert [a["id"] for a in listed["items"]] == [appointment["id"]]
        everyone = c.get("/api/appointments", params={"limit": 200}).json()["items"]
        assert len({a["clientId"] for a in everyone}) > 1
        stats = c.get("/api/dashboard/stats", params={"clientId": victim["id"]}).json()
        assert stats["data"]["upcomingCount"] == 1
        assert_problem(c.get("/api/dashboard/stats"), 403)
        assert_problem(c.get("/api/dashboard/stats", params={"clientId": 999999}), 404)
        activity = c.get("/api/activity", params={"limit": 100}).json()["items"]
        assert victim["id"] in {a["clientId"] for a in activity}
        month = dt.datetime.fromisoformat(appointment["start"]).strftime("%Y-%m")
        cal = c.get("/api/calendar", params={"month": month, "doctorId": victim["doctorId"]})
        assert appointment["id"] in [a["id"] for a in cal.json()["items"]]
        stream = c.get("/api/appointments/stream")
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("application/x-ndjson")
        assert SECRET in stream.text


def test_doctors_see_only_their_own(live: LiveServer, victim: dict[str, Any]) -> None:
    """The demo doctor login is Dr. Okafor; the victim booked Dr. Fischer."""
    token = live.login("doctor@demo.careslot")
    own_doctor = demo_doctor_id(live)
    appointment = victim["appointment"]
    month = dt.datetime.fromisoformat(appointment["start"]).strftime("%Y-%m")
    # One of the doctor's own, so the calendar below cannot be empty.
    own_slot = free_slots(live, own_doctor)[0]
    own_month = dt.datetime.fromisoformat(own_slot["start"]).strftime("%Y-%m")
    _, other_token = register(live, name="Okafor Patient")
    with live.client(other_token) as c:
        own_booking = book(c, own_doctor, own_slot["start"])
    assert own_booking.status_code == 201, own_booking.text
    with live.client(token) as c:
        assert_problem(c.get(f"/api/appointments/{appointment['id']}"), 404)
        assert_problem(
            c.patch(f"/api/appointments/{appointment['id']}", json={"status": "checked_in"}), 404
        )
        listed = c.get("/api/appointments", params={"limit": 200}).json()["items"]
        assert listed
        assert {a["doctorId"] for a in listed} == {own_doctor}
        assert_problem(
            c.get("/api/calendar", params={"month": month, "doctorId": victim["doctorId"]}), 403
        )
        cal = c.get("/api/calendar", params={"month": own_month}).json()
        assert own_booking.json()["id"] in [a["id"] for a in cal["items"]]
        assert {a["doctorId"] for a in cal["items"]} == {own_doctor}
        victims_month = c.get("/api/calendar", params={"month": month}).json()
        assert appointment["id"] not in [a["id"] for a in victims_month["items"]]
        assert {a["doctorId"] for a in victims_month["items"]} <= {own_doctor}
        assert_problem(c.get("/api/dashboard/stats", params={"clientId": victim["id"]}), 403)
        assert_problem(c.get("/api/activity"), 403)
        assert_problem(c.get(f"/api/doctors/{victim['doctorId']}/schedule"), 403)
        schedule = c.get(f"/api/doctors/{own_doctor}/schedule")
        assert schedule.status_code == 200, schedule.text
        assert_problem(c.get("/api/appointments/stream"), 403)
        assert_problem(book(c, own_doctor, appointment["start"]), 403)
        body = str(listed) + str(cal) + str(victims_month) + schedule.text
    assert not _leaks(body)


def test_private_answers_are_never_public(live: LiveServer, victim: dict[str, Any]) -> None:
    with live.client(victim["token"]) as c:
        for route, promised in CACHE_CONTROL.items():
            if route == "/api/appointments/stream":
                continue  # staff only; see test_stream
            path = route.replace("{id}", str(victim["appointment"]["id"]))
            for _ in range(2):  # the miss and the cache hit
                r = c.get(path)
                assert r.status_code == 200, (path, r.text)
                assert r.headers["cache-control"] == promised, path
                assert "Authorization" in r.headers["vary"], path


def test_every_private_route_needs_a_session(live: LiveServer) -> None:
    with live.client() as c:
        for method, path in (
            ("GET", "/api/appointments"),
            ("GET", "/api/appointments/1"),
            ("PATCH", "/api/appointments/1"),
            ("POST", "/api/appointments"),
            ("GET", "/api/dashboard/stats"),
            ("GET", "/api/activity"),
            ("GET", "/api/calendar"),
            ("GET", "/api/users/profile"),
            ("GET", "/api/appointments/stream"),
            ("GET", "/api/doctors/1/schedule"),
            ("POST", "/api/auth/logout"),
        ):
            r = c.request(method, path, json={"status": "cancelled"} if method != "GET" else None)
            assert_problem(r, 401, "unauthenticated")
        r = c.get("/api/appointments", headers={"Authorization": "Bearer not-a-token"})
        assert_problem(r, 401, "unauthenticated")
        r = c.get("/api/appointments", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert_problem(r, 401, "unauthenticated")


def test_reads_of_patient_records_are_audited(live: LiveServer, victim: dict[str, Any]) -> None:
    """Who read whose record, and the refused attempts, land in audit_log (batched)."""
    import time

    nosy_id, token = register(live)
    appointment_id = victim["appointment"]["id"]
    with live.client(token) as c:
        assert c.get(f"/api/appointments/{appointment_id}").status_code == 404
    with live.client(victim["token"]) as c:
        assert c.get(f"/api/appointments/{appointment_id}").status_code == 200
    wanted = {(nosy_id, "denied"), (victim["id"], "ok")}
    found: set[tuple[int, str]] = set()
    for _ in range(100):  # the audit writer flushes every half second
        rows = query(
            live,
            "select actor_id, outcome from audit_log where action = 'read' "
            "and entity = 'appointment' and entity_id = $1",
            appointment_id,
        )
        found = {(r["actor_id"], r["outcome"]) for r in rows}
        if wanted <= found:
            break
        time.sleep(0.1)
    assert wanted <= found
    changes = query(
        live,
        "select actor_id, subject_id, action from audit_log "
        "where entity = 'appointment' and action <> 'read'",
    )
    assert [(r["actor_id"], r["subject_id"], r["action"]) for r in changes] == [
        (victim["id"], victim["id"], "create")
    ]


def test_a_doctor_account_without_a_doctor_sees_nobody(
    live: LiveServer, victim: dict[str, Any]
) -> None:
    """A doctor login not linked to a doctor row (e.g. `careslot users create --role
    doctor`) must not fall through to 'no filter' and list every patient."""
    user_id, token = register(live, name="Unlinked Doctor")
    query(live, "update users set role = 'doctor' where id = $1", user_id)
    appointment = victim["appointment"]
    month = dt.datetime.fromisoformat(appointment["start"]).strftime("%Y-%m")
    with live.client(token) as c:
        answers = [
            c.get("/api/appointments"),
            c.get("/api/calendar", params={"month": month}),
            c.get(f"/api/appointments/{appointment['id']}"),
        ]
    for r in answers:
        assert r.status_code in (403, 404) or r.json().get("items") == [], r.text
        assert not _leaks(r.text)


def test_staff_asking_for_their_own_id_get_no_dashboard(live: LiveServer) -> None:
    token = live.login("staff@demo.careslot")
    with live.client(token) as c:
        me = c.get("/api/users/profile").json()["id"]
        r = c.get("/api/dashboard/stats", params={"clientId": me})
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
