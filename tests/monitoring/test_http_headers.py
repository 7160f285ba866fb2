"""Server-Timing on every API answer; strong ETags and 304 on every cacheable GET;
per-user answers never public."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest

from careslot.headers import body_etag, none_match
from careslot.monitoring.middleware import Monitoring
from tests.api.helpers import CACHE_CONTROL
from tests.conftest import LiveServer

TIMING = re.compile(
    r'db;dur=\d+\.\d+;desc="(\d+) queries"(, cache;desc="[^"]+")?, '
    r"total;dur=(\d+\.\d+)$"
)


def _doctor_and_day(c: httpx.Client) -> tuple[int, str]:
    """A doctor and a day on which they have free slots, whatever today's weekday (a fixed
    day ahead is a weekend for a Mon-Fri doctor on two days of the week)."""
    doctor = c.get("/api/doctors").json()[0]["id"]
    today = dt.datetime.now(dt.UTC).date()
    r = c.get(
        "/api/slots",
        params={
            "doctorId": doctor,
            "from": (today + dt.timedelta(days=1)).isoformat(),
            "to": (today + dt.timedelta(days=14)).isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    first = dt.datetime.fromisoformat(r.json()["slots"][0]["start"])
    return doctor, first.astimezone(dt.UTC).date().isoformat()


def cacheable_paths(c: httpx.Client) -> dict[str, str]:
    doctor, day = _doctor_and_day(c)
    month = dt.datetime.now(dt.UTC).date().strftime("%Y-%m")
    return {
        "departments": "/api/departments",
        "doctors": "/api/doctors",
        "slots": f"/api/slots?doctorId={doctor}&date={day}",
        "dashboard": "/api/dashboard/stats",
        "appointments": "/api/appointments",
        "calendar": f"/api/calendar?month={month}",
        "activity": "/api/activity",
    }


PER_USER = ("dashboard", "appointments", "calendar", "activity")


def test_server_timing_on_api_answers(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        answers = [c.get(path) for path in cacheable_paths(c).values()]
        answers.append(c.get("/api/appointments/987654321"))  # a 404 problem
        answers.append(c.get("/api/users/profile"))
        doctor, day = _doctor_and_day(c)
        slot = c.get("/api/slots", params={"doctorId": doctor, "date": day}).json()["slots"][0]
        answers.append(
            c.post("/api/appointments", json={"doctorId": doctor, "start": slot["start"]})
        )
    assert answers[-1].status_code == 201
    for answer in answers:
        header = answer.headers.get("server-timing")
        assert header is not None, answer.request.url
        assert TIMING.match(header), header
    # A booking is a database write: its round trips are counted and timed.
    queries = int(TIMING.match(answers[-1].headers["server-timing"]).group(1))  # type: ignore[union-attr]
    assert queries >= 1


def test_no_server_timing_outside_api(live: LiveServer) -> None:
    with live.client() as c:
        assert "server-timing" not in c.get("/healthz").headers


@pytest.mark.parametrize(
    "name", ["departments", "doctors", "slots", "dashboard", "appointments", "calendar", "activity"]
)
def test_etag_and_304(live: LiveServer, patient_token: str, name: str) -> None:
    with live.client(patient_token) as c:
        path = cacheable_paths(c)[name]
        first = c.get(path)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert etag.startswith('"'), etag  # strong: no W/ prefix
        assert etag.endswith('"'), etag
        for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = c.get(path, headers={"If-None-Match": condition})
            assert again.status_code == 304, condition
            assert again.content == b""
            assert again.headers["etag"] == etag
            assert "content-length" not in again.headers or again.headers["content-length"] == "0"
            assert "server-timing" in again.headers
        changed = c.get(path, headers={"If-None-Match": '"not-this-one"'})
    assert changed.status_code == 200
    assert changed.content == first.content


def test_etag_follows_the_data(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        before = c.get("/api/appointments")
        doctor, day = _doctor_and_day(c)
        slot = c.get("/api/slots", params={"doctorId": doctor, "date": day}).json()["slots"][0]
        booked = c.post("/api/appointments", json={"doctorId": doctor, "start": slot["start"]})
        assert booked.status_code == 201
        after = c.get("/api/appointments", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]


@pytest.mark.parametrize("name", PER_USER)
def test_per_user_answers_are_never_public(live: LiveServer, patient_token: str, name: str) -> None:
    with live.client(patient_token) as c:
        path = cacheable_paths(c)[name]
        answers = [c.get(path)]
        answers.append(c.get(path, headers={"If-None-Match": answers[0].headers["etag"]}))
    promised = CACHE_CONTROL[path.split("?")[0]]
    for answer in answers:
        assert answer.headers["cache-control"] == promised


def test_writes_and_errors_get_no_etag(live: LiveServer, patient_token: str) -> None:
    with live.client(patient_token) as c:
        missing = c.get("/api/appointments/987654321")
        anonymous = httpx.get(f"{live.url}/api/dashboard/stats")
    assert missing.status_code == 404
    assert "etag" not in missing.headers
    assert anonymous.status_code == 401
    assert "etag" not in anonymous.headers


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (b'"a"', True),
        (b'W/"a"', True),
        (b' "b" , "a" ', True),
        (b"*", True),
        (b'"b"', False),
        (b'"a-"', False),
        (b"", False),
    ],
)
def test_if_none_match_weak_comparison(header: bytes, matches: bool) -> None:
    assert none_match(header, b'"a"') is matches
    assert none_match(header, b'W/"a"') is matches


def test_static_files_compare_if_none_match_the_same_way(live: LiveServer) -> None:
    etag = httpx.get(f"{live.url}/static/app.js").headers["etag"]
    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = httpx.get(f"{live.url}/static/app.js", headers={"If-None-Match": condition})
        assert again.status_code == 304, condition


async def test_an_answer_with_its_own_etag_is_passed_on_as_it_is() -> None:
    """Its ETag is the app's (a cached answer's, which answered If-None-Match itself): the
    middleware neither holds nor hashes it, nor turns it into a 304 of its own."""
    body = b'{"a":1}'

    async def app(scope: object, receive: object, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"7")]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"etag", b'"own"')],
            }
        )
        await send({"type": "http.response.body", "body": body})

    transport = httpx.ASGITransport(app=Monitoring(app))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://careslot") as client:
        for condition in ('"own"', body_etag(body).decode()):
            answer = await client.get("/api/x", headers={"If-None-Match": condition})
            assert answer.status_code == 200
            assert answer.headers.get_list("etag") == ['"own"']
            assert answer.content == body


def test_server_timing_names_the_cache_outcome(live: LiveServer) -> None:
    with live.client() as c:
        answers = [c.get("/api/departments") for _ in range(3)]
    outcomes = [re.search(r'cache;desc="([^"]+)"', a.headers["server-timing"]) for a in answers]
    assert all(outcomes), [a.headers["server-timing"] for a in answers]
    assert outcomes[-1].group(1).startswith("l1 hit ")  # type: ignore[union-attr]
