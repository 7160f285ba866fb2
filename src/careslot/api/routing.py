"""The API's routers, and how they join the app: as a flat list of routes.

FastAPI 0.165's `include_router` keeps each included router as a nested matcher that every
request walks twice (to match, then to dispatch): on this 2-core machine that was 6 µs of
`/healthz`'s 48 and 16 µs of a cached dashboard's 120 (`scripts/measure_hot_reads.py`).
Our API routers only give their routes a prefix, tags and the JSON response class, which
FastAPI writes into each route when the route is declared, so their routes can join the
app's own list as they are; `add_routes` refuses a router that carries anything that only
inclusion would apply.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import ORJSONResponse
from fastapi.routing import APIRoute
from fastapi.routing import request_response as fastapi_request_response
from starlette.responses import Response
from starlette.routing import request_response

Serve = Callable[[Request], Awaitable[Response]]


def api_router(tag: str, *, prefix: str = "/api") -> APIRouter:
    return APIRouter(prefix=prefix, tags=[tag], default_response_class=ORJSONResponse)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """`app.include_router(router)` for a router made by `api_router`, without the nesting."""
    if router.dependencies or router.callbacks or router.responses or router.on_startup:
        raise ValueError("this router needs app.include_router: it has more than routes")
    if router.default_response_class is not ORJSONResponse:
        raise ValueError("declare the router with api_router (its routes answer with orjson)")
    app.router.routes.extend(router.routes)


def match_first(app: FastAPI, paths: tuple[str, ...]) -> None:
    """Try the routes of these paths, in this order, before any other: each route tried on the
    way costs a request about a microsecond. Static paths only, so they shadow no other route."""
    if any("{" in path for path in paths):
        raise ValueError("only static paths may jump the queue")
    routes = app.router.routes
    first = [r for path in paths for r in routes if getattr(r, "path", None) == path]
    routes[:] = first + [r for r in routes if r not in first]


def direct(app: FastAPI, paths: tuple[str, ...]) -> None:
    """Serve the GET routes of these paths without FastAPI's request handler.

    Their endpoints take the request alone and return a ready Response, so the
    handler's work buys them nothing: reading a body, solving dependencies (even none), its
    telemetry look-ups and exit stacks cost `/healthz` 25 µs of its 51 and a cached dashboard
    20 µs of its 91 on this machine (`scripts/measure_hot_reads.py`, CPU per answer).
    Starlette's `request_response` still runs the app's exception handlers, and the OpenAPI
    document is built from the route's declaration, so neither changes. A route that declares
    anything the handler would act on is refused."""
    found = set()
    for route in app.router.routes:
        if not isinstance(route, APIRoute) or route.path not in paths:
            continue
        if "GET" not in (route.methods or ()):
            continue  # a write on the same path (the admin's POST /api/departments)
        declared = inspect.signature(route.endpoint, eval_str=True).parameters
        takes = [p.annotation for p in declared.values()]
        if route.methods != {"GET"} or route.dependencies or takes != [Request]:
            raise ValueError(f"{route.path} needs FastAPI's handler: it declares more")
        route.app = request_response(route.endpoint)
        found.add(route.path)
    if missing := set(paths) - found:
        raise ValueError(f"no GET route for {sorted(missing)}")


def direct_writes(app: FastAPI, serving: Mapping[tuple[str, str], Serve]) -> None:
    """Serve these (method, path) routes with a reader of their own (api/bodies.py) that
    parses the request as FastAPI's handler would and calls the declared endpoint. The
    declaration still makes the OpenAPI document, and the app's exception handlers still run.
    """
    found = set()
    for route in app.router.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods or ():
            serve = serving.get((method, route.path))
            if serve is not None:
                if route.methods != {method} or route.dependencies:
                    raise ValueError(f"{method} {route.path} needs FastAPI's handler")
                route.app = request_response(serve)
                found.add((method, route.path))
    if missing := set(serving) - found:
        raise ValueError(f"no such routes: {sorted(missing)}")


def fastapi_writes(app: FastAPI, serving: Mapping[tuple[str, str], Serve]) -> None:
    """Hand the routes `direct_writes` serves back to FastAPI's own request handler, as
    FastAPI builds it (`tests/api/test_direct_writes.py` compares the two, and
    `scripts/measure_write_cost.py --fastapi-handler` times them). The routes are the
    routers' own objects, shared by every app made in the process."""
    for route in app.router.routes:
        if isinstance(route, APIRoute) and any(
            (method, route.path) in serving for method in route.methods or ()
        ):
            route.app = fastapi_request_response(route.get_route_handler())
