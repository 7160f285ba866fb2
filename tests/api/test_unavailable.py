"""A database that does not answer in time is a 503 problem with Retry-After, not a 500."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.api.helpers import demo_doctor_id
from tests.conftest import LiveServer, Serve


@pytest.fixture
def impatient(serve: Serve) -> LiveServer:
    return serve(statement_timeout_ms=300)


def test_statement_timeout_is_503(impatient: LiveServer) -> None:
    doctor_id = demo_doctor_id(impatient)
    url = impatient.settings.database_url
    assert url

    async def blocked() -> tuple[int, str, dict[str, str]]:
        import httpx

        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                # Hold a lock every slot query needs until careslot gives up waiting.
                await conn.execute("lock table working_hours in access exclusive mode")
                async with httpx.AsyncClient(base_url=impatient.url, timeout=60) as client:
                    r = await client.get(
                        "/api/slots", params={"doctorId": doctor_id, "date": "2030-01-07"}
                    )
                return r.status_code, r.text, dict(r.headers)
        finally:
            await conn.close()

    status, text, headers = asyncio.run(blocked())
    assert status == 503, text
    assert headers["content-type"].startswith("application/problem+json")
    assert headers["retry-after"]
    # Once the lock is gone it answers again.
    with impatient.client() as c:
        r = c.get("/api/slots", params={"doctorId": doctor_id, "date": "2030-01-07"})
    assert r.status_code == 200, r.text
