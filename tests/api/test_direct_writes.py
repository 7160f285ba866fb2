"""The busiest writes (booking, and moving or cancelling an appointment) are served without
FastAPI's request handler (api/bodies.py, routing.direct_writes). The same requests, good and
bad, sent to those routes served that way and then by FastAPI's own handler for the same
declarations, must get the same answers."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from careslot.api.appointments import DIRECT_WRITES
from careslot.api.routing import direct_writes, fastapi_writes
from careslot.app import create_app
from tests.conftest import settings_for

PASSWORD = "direct-writes-1"  # noqa: S105 - a test patient's
JSON = {"content-type": "application/json"}


@contextlib.asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def _patient(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    body = {"email": email, "password": PASSWORD, "name": "Direct Writes"}
    r = await client.post("/api/auth/register", json=body)
    assert r.status_code == 201, r.text
    client.cookies.clear()  # the bearer token only: requests without it have no caller
    return {"authorization": f"Bearer {r.json()['token']}"}


async def _free(client: httpx.AsyncClient, doctor: int, count: int) -> list[str]:
    today = dt.datetime.now(dt.UTC).date()
    found: list[str] = []
    for ahead in range(2, 40):
        day = (today + dt.timedelta(days=ahead)).isoformat()
        r = await client.get("/api/slots", params={"doctorId": doctor, "date": day})
        found += [s["start"] for s in r.json()["slots"]]
        if len(found) >= count:
            return found
    raise AssertionError("too few free slots")


def _answer(r: httpx.Response) -> tuple[Any, ...]:
    """What must match: status, media type, the problem as sent, a success's shape."""
    media = r.headers.get("content-type", "").split(";")[0]
    body: Any = r.json() if r.content and "json" in media else r.content
    if r.is_success:
        body = (sorted(body), body["status"], body["doctorId"])
    return r.status_code, media, body, r.headers.get("idempotent-replayed")


async def _requests(
    client: httpx.AsyncClient, auth: dict[str, str], slots: list[str]
) -> list[tuple[Any, ...]]:
    doctor = 1
    book = "/api/appointments"
    answers = []

    async def send(method: str, url: str, **kw: Any) -> httpx.Response:
        r = await client.request(method, url, **kw)
        answers.append(_answer(r))
        return r

    good = {"doctorId": doctor, "start": slots[0]}
    await send("POST", book, json=good)  # no caller
    await send("POST", book, content=b"{not json", headers=JSON)  # no caller, bad JSON
    await send("POST", book, content=b"{not json", headers={**JSON, **auth})
    await send("POST", book, content=b'{"doctorId": "\xff"}', headers={**JSON, **auth})
    await send("POST", book, headers={**JSON, **auth})  # no body
    await send("POST", book, content=b"[]", headers={**JSON, **auth})
    await send("POST", book, content=b'{"doctorId": 1}', headers=auth)  # no content type
    await send("POST", book, content=b'{"doctorId": 1}', headers={"content-type": "text/plain"})
    await send(
        "POST", book, content=b'{"doctorId": 1}', headers={**auth, "content-type": "text/plain"}
    )
    await send("POST", book, json={"doctorId": "abc", "start": "soon"}, headers=auth)
    await send("POST", book, json={**good, "extra": 1}, headers=auth)
    await send("POST", book, json={**good, "doctorId": 999_999}, headers=auth)
    long_key = {**auth, "idempotency-key": "k" * 201}
    await send("POST", book, json={"doctorId": True}, headers=long_key)
    await send("POST", book, json=good, headers=long_key)
    keyed = {**auth, "idempotency-key": "direct-writes"}
    booked = await send("POST", book, json=good, headers=keyed)
    assert booked.status_code == 201, booked.text
    await send("POST", book, json=good, headers=keyed)  # replayed
    await send("POST", book, json={**good, "start": slots[1]}, headers=keyed)  # key reused
    await send("POST", book, json=good, headers=auth)  # taken
    one = f"/api/appointments/{booked.json()['id']}"
    for url in ("/api/appointments/0", f"/api/appointments/{10**15}"):
        await send("PATCH", url, json={"status": "cancelled"}, headers=auth)
        await send("PATCH", url, content=b"[", headers={**JSON, **auth})
        await send("PATCH", url, content=b"\xfe\xff", headers={**JSON, **auth})
        await send("PATCH", url, json={"status": 5}, headers=auth)
    await send("PATCH", "/api/appointments/999999", json={"status": "cancelled"}, headers=auth)
    await send("PATCH", one, json={"status": "cancelled"})  # no caller
    await send("PATCH", one, json={}, headers=auth)
    await send("PATCH", one, json={"status": "done", "start": slots[1]}, headers=auth)
    await send("PATCH", one, json={"start": slots[1]}, headers=auth)  # moved
    await send("PATCH", one, json={"status": "cancelled"}, headers=auth)
    await send("PATCH", one, json={"status": "cancelled"}, headers=auth)  # already
    return answers


@pytest.mark.parametrize("served", ["direct", "declared"])
def test_direct_writes_refuses_a_route_it_cannot_serve(served: str) -> None:
    app = FastAPI()

    @app.post("/api/appointments")
    async def book() -> None:
        return None

    if served == "direct":
        with pytest.raises(ValueError, match="no such routes"):
            direct_writes(app, {("PATCH", "/api/appointments"): book})  # type: ignore[dict-item]
    else:
        app.router.routes[-1].dependencies.append(object())  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="needs FastAPI's handler"):
            direct_writes(app, {("POST", "/api/appointments"): book})  # type: ignore[dict-item]


async def test_the_busiest_writes_answer_as_fastapis_handler_would(database_url: str) -> None:
    app = create_app(settings_for(database_url, cache="off"))
    answers = []
    async with _client(app) as client:
        slots = await _free(client, 1, 4)
        auth = await _patient(client, "direct-writes-0@test.careslot")
        answers.append(await _requests(client, auth, slots[:2]))
        # The routes are the routers' own objects, shared by every app made in this
        # process: hand them back to direct serving whatever happens.
        try:
            fastapi_writes(app, DIRECT_WRITES)
            auth = await _patient(client, "direct-writes-1@test.careslot")
            answers.append(await _requests(client, auth, slots[2:]))
        finally:
            direct_writes(app, DIRECT_WRITES)
    assert len(answers[0]) == len(answers[1]) == 33
    for got, expected in zip(*answers, strict=True):
        assert got == expected
    statuses = {a[0] for a in answers[0]}
    assert {200, 201, 400, 401, 404, 409, 422} <= statuses
