"""Bad input of every kind is a 4xx problem+json with a code, and changes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import socket
from typing import Any

import pytest

from tests.api.helpers import (
    PROBLEM,
    appointments_snapshot,
    assert_problem,
    book,
    demo_doctor_id,
    free_slots,
    register,
)
from tests.conftest import LiveServer

INJECTION = "'; drop table appointments;--"
BIG = 2**70
SLOT = "<a bookable slot of doctor 1>"  # replaced by a real free slot when the test runs
OFF_SLOT = "<that slot plus 7 minutes>"
NAIVE_SLOT = "<that slot without its offset>"


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _book(**body: Any) -> dict[str, Any]:
    return {"method": "POST", "url": "/api/appointments", "json": body}


CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    # Bodies that are not JSON, or not the JSON we want.
    "truncated json": (
        {
            "method": "POST",
            "url": "/api/appointments",
            "content": b'{"doctorId": 1,',
            "headers": {"content-type": "application/json"},
        },
        400,
        "malformed_request",
    ),
    "not json": (
        {
            "method": "POST",
            "url": "/api/appointments",
            "content": b"hello",
            "headers": {"content-type": "application/json"},
        },
        400,
        "malformed_request",
    ),
    "invalid utf-8": (
        {
            "method": "POST",
            "url": "/api/appointments",
            "content": b'{"doctorId": "\xff\xfe"}',
            "headers": {"content-type": "application/json"},
        },
        400,
        "bad_request",
    ),
    "form body": (
        {
            "method": "POST",
            "url": "/api/appointments",
            "content": b"doctorId=1&start=x",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
        422,
        "validation_error",
    ),
    "empty body": (
        {
            "method": "POST",
            "url": "/api/appointments",
            "content": b"",
            "headers": {"content-type": "application/json"},
        },
        422,
        "validation_error",
    ),
    "json array": (
        {"method": "POST", "url": "/api/appointments", "json": []},
        422,
        "validation_error",
    ),
    "json null": (
        {"method": "POST", "url": "/api/appointments", "json": None},
        422,
        "validation_error",
    ),
    "json string": (
        {"method": "POST", "url": "/api/appointments", "json": INJECTION},
        422,
        "validation_error",
    ),
    "missing start": (_book(doctorId=1), 422, "validation_error"),
    "missing doctor": (_book(start=SLOT), 422, "validation_error"),
    "doctor as text": (_book(doctorId="abc", start=SLOT), 422, "validation_error"),
    "doctor injection": (_book(doctorId=f"1{INJECTION}", start=SLOT), 422, "validation_error"),
    "doctor float": (_book(doctorId=1.5, start=SLOT), 422, "validation_error"),
    "doctor bool": (_book(doctorId=True, start=SLOT), 422, "validation_error"),
    "doctor huge": (_book(doctorId=BIG, start=SLOT), 422, "validation_error"),
    "doctor negative": (_book(doctorId=-1, start=SLOT), 422, "validation_error"),
    "doctor unknown": (_book(doctorId=999_999, start=SLOT), 404, "not_found"),
    "doctor nested": (_book(doctorId={"$gt": 0}, start=SLOT), 422, "validation_error"),
    "start naive": (_book(doctorId=1, start=NAIVE_SLOT), 422, "validation_error"),
    "start not a date": (_book(doctorId=1, start=INJECTION), 422, "validation_error"),
    "start month 13": (_book(doctorId=1, start="2030-13-07T09:00:00Z"), 422, "validation_error"),
    "start year 10000": (_book(doctorId=1, start="10000-01-01T00:00:00Z"), 422, "validation_error"),
    "start year 1 east": (
        _book(doctorId=1, start="0001-01-01T00:00:00+05:00"),
        422,
        "invalid_slot",
    ),
    "start year 9999 west": (
        _book(doctorId=1, start="9999-12-31T23:00:00-05:00"),
        422,
        "invalid_slot",
    ),
    "start epoch number": (_book(doctorId=1, start=1e20), 422, "validation_error"),
    "start past": (_book(doctorId=1, start="2001-01-01T09:00:00Z"), 422, "invalid_slot"),
    "start off slot": (_book(doctorId=1, start=OFF_SLOT), 422, "invalid_slot"),
    "reason nul": (_book(doctorId=1, start=SLOT, reason="a\x00b"), 422, "validation_error"),
    "reason too long": (_book(doctorId=1, start=SLOT, reason="x" * 1001), 422, "validation_error"),
    "reason number": (_book(doctorId=1, start=SLOT, reason=5), 422, "validation_error"),
    "extra field": (_book(doctorId=1, start=SLOT, status="completed"), 422, "validation_error"),
    "client for patient": (_book(doctorId=1, start=SLOT, clientId=BIG), 422, "validation_error"),
    "idempotency key too long": (
        {
            "method": "POST",
            "url": "/api/appointments",
            "json": {"doctorId": 1, "start": SLOT},
            "headers": {"Idempotency-Key": "k" * 300},
        },
        422,
        "validation_error",
    ),
    # Ids out of range or not ids.
    "get id huge": ({"method": "GET", "url": f"/api/appointments/{BIG}"}, 422, "validation_error"),
    "get id zero": ({"method": "GET", "url": "/api/appointments/0"}, 422, "validation_error"),
    # Ids in paths are integers by route ({appointment_id:int}), so text names no resource
    # (and PATCH /api/appointments/stream is a 405, not a bad id).
    "get id text": ({"method": "GET", "url": "/api/appointments/abc"}, 404, "not_found"),
    "get id injection": (
        {"method": "GET", "url": "/api/appointments/1%20or%201=1"},
        404,
        "not_found",
    ),
    "patch id huge": (
        {"method": "PATCH", "url": f"/api/appointments/{BIG}", "json": {"status": "cancelled"}},
        422,
        "validation_error",
    ),
    "patch unknown": (
        {"method": "PATCH", "url": "/api/appointments/999999", "json": {"status": "cancelled"}},
        404,
        "not_found",
    ),
    "patch injection status": (
        {"method": "PATCH", "url": "/api/appointments/1", "json": {"status": INJECTION}},
        422,
        "validation_error",
    ),
    "patch nul status": (
        {"method": "PATCH", "url": "/api/appointments/1", "json": {"status": "x\x00"}},
        422,
        "validation_error",
    ),
    "patch naive start": (
        {"method": "PATCH", "url": "/api/appointments/1", "json": {"start": NAIVE_SLOT}},
        422,
        "validation_error",
    ),
    "patch malformed": (
        {
            "method": "PATCH",
            "url": "/api/appointments/1",
            "content": b"{",
            "headers": {"content-type": "application/json"},
        },
        400,
        "malformed_request",
    ),
    # Listing filters.
    "list bad status": (
        {"method": "GET", "url": "/api/appointments", "params": {"status": INJECTION}},
        422,
        "validation_error",
    ),
    "list nul status": (
        {"method": "GET", "url": "/api/appointments", "params": {"status": "\x00"}},
        422,
        "validation_error",
    ),
    "list naive from": (
        {"method": "GET", "url": "/api/appointments", "params": {"from": "2026-01-01T00:00:00"}},
        422,
        "validation_error",
    ),
    "list bad from": (
        {"method": "GET", "url": "/api/appointments", "params": {"from": "yesterday"}},
        422,
        "validation_error",
    ),
    "list far from": (
        {
            "method": "GET",
            "url": "/api/appointments",
            "params": {"from": "0001-01-01T00:00:00+05:00"},
        },
        422,
        "validation_error",
    ),
    "list far to": (
        {
            "method": "GET",
            "url": "/api/appointments",
            "params": {"to": "9999-12-31T23:59:59-12:00"},
        },
        422,
        "validation_error",
    ),
    "list limit zero": (
        {"method": "GET", "url": "/api/appointments", "params": {"limit": 0}},
        422,
        "validation_error",
    ),
    "list limit huge": (
        {"method": "GET", "url": "/api/appointments", "params": {"limit": BIG}},
        422,
        "validation_error",
    ),
    "list client huge": (
        {"method": "GET", "url": "/api/appointments", "params": {"clientId": BIG}},
        422,
        "validation_error",
    ),
    "cursor garbage": (
        {"method": "GET", "url": "/api/appointments", "params": {"cursor": "%%%not-base64"}},
        422,
        "validation_error",
    ),
    "cursor injection": (
        {"method": "GET", "url": "/api/appointments", "params": {"cursor": INJECTION}},
        422,
        "validation_error",
    ),
    "cursor nul": (
        {"method": "GET", "url": "/api/appointments", "params": {"cursor": "\x00"}},
        422,
        "validation_error",
    ),
    "cursor no bar": (
        {
            "method": "GET",
            "url": "/api/appointments",
            "params": {"cursor": _cursor("2026-01-01T00:00:00+00:00")},
        },
        422,
        "validation_error",
    ),
    "cursor naive": (
        {
            "method": "GET",
            "url": "/api/appointments",
            "params": {"cursor": _cursor("2026-01-01T00:00:00|5")},
        },
        422,
        "validation_error",
    ),
    "cursor huge id": (
        {
            "method": "GET",
            "url": "/api/appointments",
            "params": {"cursor": _cursor(f"2026-01-01T00:00:00+00:00|{BIG}")},
        },
        422,
        "validation_error",
    ),
    "cursor far date": (
        {
            "method": "GET",
            "url": "/api/appointments",
            "params": {"cursor": _cursor("0001-01-01T00:00:00+05:00|1")},
        },
        422,
        "validation_error",
    ),
    "cursor not utf-8": (
        {
            "method": "GET",
            "url": "/api/appointments",
            "params": {"cursor": base64.urlsafe_b64encode(b"\xff|1").decode()},
        },
        422,
        "validation_error",
    ),
    # Calendar, slots, dashboard, activity, schedule.
    "calendar month 13": (
        {"method": "GET", "url": "/api/calendar", "params": {"month": "2026-13"}},
        422,
        "validation_error",
    ),
    "calendar injection": (
        {"method": "GET", "url": "/api/calendar", "params": {"month": INJECTION}},
        422,
        "validation_error",
    ),
    "calendar year 0": (
        {"method": "GET", "url": "/api/calendar", "params": {"month": "0000-01"}},
        422,
        "validation_error",
    ),
    "slots no doctor": (
        {"method": "GET", "url": "/api/slots", "params": {"date": "2030-01-07"}},
        422,
        "validation_error",
    ),
    "slots doctor not a number": (
        {"method": "GET", "url": "/api/slots", "params": {"doctorId": "abc", "date": "2030-01-07"}},
        422,
        "validation_error",
    ),
    "slots doctor 0": (
        {"method": "GET", "url": "/api/slots", "params": {"doctorId": 0, "date": "2030-01-07"}},
        422,
        "validation_error",
    ),
    "slots type huge": (
        {
            "method": "GET",
            "url": "/api/slots",
            "params": {"doctorId": 1, "date": "2030-01-07", "typeId": 2**70},
        },
        422,
        "validation_error",
    ),
    "slots no date": (
        {"method": "GET", "url": "/api/slots", "params": {"doctorId": 1}},
        422,
        "validation_error",
    ),
    "slots bad date": (
        {"method": "GET", "url": "/api/slots", "params": {"doctorId": 1, "date": "2030-02-30"}},
        422,
        "validation_error",
    ),
    "slots year 1": (
        {"method": "GET", "url": "/api/slots", "params": {"doctorId": 1, "date": "0001-01-01"}},
        422,
        "validation_error",
    ),
    "slots year 9999": (
        {"method": "GET", "url": "/api/slots", "params": {"doctorId": 1, "date": "9999-12-31"}},
        422,
        "validation_error",
    ),
    "slots reversed": (
        {
            "method": "GET",
            "url": "/api/slots",
            "params": {"doctorId": 1, "from": "2030-01-07", "to": "2030-01-01"},
        },
        422,
        "validation_error",
    ),
    "slots too long": (
        {
            "method": "GET",
            "url": "/api/slots",
            "params": {"doctorId": 1, "from": "2030-01-01", "to": "2030-03-01"},
        },
        422,
        "validation_error",
    ),
    "slots date and range": (
        {
            "method": "GET",
            "url": "/api/slots",
            "params": {
                "doctorId": 1,
                "date": "2030-01-01",
                "from": "2030-01-01",
                "to": "2030-01-02",
            },
        },
        422,
        "validation_error",
    ),
    "slots doctor huge": (
        {"method": "GET", "url": "/api/slots", "params": {"doctorId": BIG, "date": "2030-01-07"}},
        422,
        "validation_error",
    ),
    "slots doctor unknown": (
        {
            "method": "GET",
            "url": "/api/slots",
            "params": {"doctorId": 999_999, "date": "2030-01-07"},
        },
        404,
        "not_found",
    ),
    "slots department injection": (
        {
            "method": "GET",
            "url": "/api/slots",
            "params": {"departmentId": INJECTION, "date": "2030-01-07"},
        },
        422,
        "validation_error",
    ),
    "doctors department text": (
        {"method": "GET", "url": "/api/doctors", "params": {"departmentId": "x"}},
        422,
        "validation_error",
    ),
    "stats client text": (
        {"method": "GET", "url": "/api/dashboard/stats", "params": {"clientId": INJECTION}},
        422,
        "validation_error",
    ),
    "activity limit negative": (
        {"method": "GET", "url": "/api/activity", "params": {"limit": -1}},
        422,
        "validation_error",
    ),
    "schedule huge": (
        {"method": "GET", "url": f"/api/doctors/{BIG}/schedule"},
        422,
        "validation_error",
    ),
    "unknown route": ({"method": "GET", "url": "/api/nope"}, 404, "not_found"),
    "wrong method": ({"method": "DELETE", "url": "/api/appointments/1"}, 405, "method_not_allowed"),
    # Accounts.
    "login injection": (
        {
            "method": "POST",
            "url": "/api/auth/login",
            "json": {"email": INJECTION, "password": INJECTION},
        },
        401,
        "unauthenticated",
    ),
    "login nul": (
        {
            "method": "POST",
            "url": "/api/auth/login",
            "json": {"email": "a\x00@b.co", "password": "whatever1"},
        },
        422,
        "validation_error",
    ),
    "login missing": (
        {"method": "POST", "url": "/api/auth/login", "json": {}},
        422,
        "validation_error",
    ),
    "register long name": (
        {
            "method": "POST",
            "url": "/api/auth/register",
            "json": {"email": "long@test.careslot", "password": "x" * 10, "name": "n" * 201},
        },
        422,
        "validation_error",
    ),
    "register huge password": (
        {
            "method": "POST",
            "url": "/api/auth/register",
            "json": {"email": "pw@test.careslot", "password": "x" * 300, "name": "n"},
        },
        422,
        "validation_error",
    ),
    "page-load beacon junk": (
        {"method": "POST", "url": "/api/metrics/page-load", "json": {"route": "/", "fcp": -5}},
        422,
        "validation_error",
    ),
}

# The field a body case's validation_error must name (so a check done elsewhere, say a
# database error, cannot stand in for the one the case is about).
FIELD = {
    "missing start": "start",
    "missing doctor": "doctorId",
    "doctor as text": "doctorId",
    "doctor float": "doctorId",
    "doctor bool": "doctorId",
    "doctor huge": "doctorId",
    "doctor negative": "doctorId",
    "start naive": "start",
    "start not a date": "start",
    "reason nul": "reason",
    "reason too long": "reason",
    "reason number": "reason",
    "extra field": "status",
    "client for patient": "clientId",
    "idempotency key too long": "idempotency-key",
    "patch naive start": "start",
}


@pytest.fixture(scope="module")
def patient(module_live: LiveServer) -> str:
    return register(module_live)[1]


@pytest.fixture(scope="module")
def slot(module_live: LiveServer) -> dict[str, str]:
    """A start that doctor 1 really offers, so each body case reaches its own check."""
    start = free_slots(module_live, 1)[0]["start"]
    moment = dt.datetime.fromisoformat(start)
    return {
        SLOT: start,
        OFF_SLOT: (moment + dt.timedelta(minutes=7)).isoformat(),
        NAIVE_SLOT: moment.replace(tzinfo=None).isoformat(),
    }


def _resolve(value: Any, slot: dict[str, str]) -> Any:
    if isinstance(value, str):
        return slot.get(value, value)
    if isinstance(value, dict):
        return {k: _resolve(v, slot) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, slot) for v in value]
    return value


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_4xx_problem(
    module_live: LiveServer, patient: str, slot: dict[str, str], name: str
) -> None:
    request, status, code = CASES[name]
    before = appointments_snapshot(module_live)
    with module_live.client(patient) as c:
        r = c.request(**_resolve(request, slot))
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = assert_problem(r, status, code)
    if name in FIELD:
        assert FIELD[name] in [e["loc"][-1] for e in body["errors"]], body
    assert appointments_snapshot(module_live) == before


def test_the_body_cases_use_a_slot_that_books(
    module_live: LiveServer, slot: dict[str, str]
) -> None:
    """The control: the same slot with a valid body is booked, so the cases above were refused
    for their own fault, not for the slot."""
    _, token = register(module_live)
    with module_live.client(token) as c:
        r = book(c, 1, slot[SLOT], reason="a fine reason")
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("chunked", [False, True])
def test_huge_bodies_get_413(module_live: LiveServer, patient: str, chunked: bool) -> None:
    before = appointments_snapshot(module_live)
    blob = b'{"doctorId": 1, "reason": "' + b"x" * (1024 * 1024 + 10) + b'"}'

    def chunks() -> Any:
        for i in range(0, len(blob), 65536):
            yield blob[i : i + 65536]

    with module_live.client(patient) as c:
        r = c.post(
            "/api/appointments",
            content=chunks() if chunked else blob,
            headers={"content-type": "application/json"},
        )
        assert_problem(r, 413, "payload_too_large")
        # The server is fine afterwards.
        assert c.get("/api/users/profile").status_code == 200
    assert appointments_snapshot(module_live) == before


def test_bodies_just_under_the_limit_are_read(module_live: LiveServer, patient: str) -> None:
    blob = b'{"doctorId": 1, "reason": "' + b"x" * (1024 * 1024 - 100) + b'"}'
    with module_live.client(patient) as c:
        r = c.post("/api/appointments", content=blob, headers={"content-type": "application/json"})
    assert_problem(r, 422, "validation_error")


@pytest.mark.parametrize("length", [b"99999999999", b"-1", b"abc"])
def test_bad_content_length_is_refused(module_live: LiveServer, length: bytes) -> None:
    host, port = module_live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: "
            + host.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + length
            + b"\r\nConnection: close\r\n\r\n{}"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    # uvicorn itself refuses a Content-Length it cannot parse (400); careslot refuses a
    # too-large one (413) before reading a byte.
    assert status_line.split()[1] in (b"400", b"413"), answer[:200]
    if length.isdigit():
        assert status_line.split()[1] == b"413"
        assert PROBLEM.encode() in answer


def test_injection_looking_text_is_just_text(live: LiveServer) -> None:
    _, token = register(live, name=INJECTION)
    doctor_id = demo_doctor_id(live)
    slot = free_slots(live, doctor_id)[0]
    with live.client(token) as c:
        r = book(c, doctor_id, slot["start"], reason=INJECTION + " ü 🩺 <script>")
        assert r.status_code == 201, r.text
        assert r.json()["reason"] == INJECTION + " ü 🩺 <script>"
        assert r.json()["clientName"] == INJECTION
        listed = c.get("/api/appointments").json()["items"]
    assert [a["id"] for a in listed] == [r.json()["id"]]
    assert len(appointments_snapshot(live)) > 1


def test_a_boolean_is_no_doctor_id(module_live: LiveServer, patient: str) -> None:
    doctor_id = demo_doctor_id(module_live)
    assert doctor_id == 1
    slot = free_slots(module_live, doctor_id)[0]
    with module_live.client(patient) as c:
        r = c.post("/api/appointments", json={"doctorId": True, "start": slot["start"]})
    assert_problem(r, 422, "validation_error")
