"""api/routing.py's `direct`: hot reads served without FastAPI's request handler, on a small
app of their own (no database needed)."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Query, Request
from starlette.responses import Response

from careslot.api.errors import install
from careslot.api.routing import add_routes, api_router, direct
from careslot.errors import Unauthenticated


def app_with() -> FastAPI:
    app = FastAPI()
    install(app)
    router = api_router("test", prefix="")

    @router.get("/plain")
    async def plain(_: Request) -> Response:
        return Response(b"plain")

    @router.get("/refuses")
    async def refuses(request: Request) -> Response:
        raise Unauthenticated("sign in first")

    @router.post("/plain")
    async def write() -> Response:  # a write on the same path keeps FastAPI's handler
        return Response(b"written", 201)

    add_routes(app, router)
    return app


async def test_a_direct_route_answers_and_keeps_the_apps_problem_handlers() -> None:
    app = app_with()
    handlers = {id(r): r.app for r in app.router.routes}
    direct(app, ("/plain", "/refuses"))
    changed = [r for r in app.router.routes if handlers[id(r)] is not r.app]
    assert len(changed) == 2  # the two GETs, not the POST
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/plain")).content == b"plain"
        assert (await client.post("/plain")).status_code == 201
        refused = await client.get("/refuses")
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "unauthenticated"


def test_a_route_that_needs_fastapis_handler_is_refused() -> None:
    async def caller() -> int:
        return 1

    for declare in ("query", "dependency"):
        app = FastAPI()
        if declare == "query":

            @app.get("/x")
            async def with_query(request: Request, n: Annotated[int, Query()] = 1) -> Response:
                return Response(b"")
        else:

            @app.get("/x")
            async def with_dependency(request: Request, n: int = Depends(caller)) -> Response:
                return Response(b"")

        with pytest.raises(ValueError, match="needs FastAPI's handler"):
            direct(app, ("/x",))


def test_a_path_with_no_get_route_is_refused() -> None:
    with pytest.raises(ValueError, match="no GET route"):
        direct(app_with(), ("/nowhere",))
