"""Two hot-path choices, measured with pytest-benchmark.

The normal suite runs each briefly and checks its answer; `pytest
tests/monitoring/test_overheads.py --benchmark-only` gives the figures the code cites:
careslot's lock-free histogram against prometheus_client's, and an async dependency against
a sync one (FastAPI runs a sync dependency in a thread pool).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from pytest_benchmark.fixture import BenchmarkFixture
from starlette.responses import Response

from careslot.monitoring.metrics import FAST_BUCKETS, LightHistogram

VALUES = (0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.04, 0.9, 3.0, 42.0)


def _samples(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith("t_seconds_") and "_created" not in line
    )


def test_light_histogram_exposes_what_prometheus_would(benchmark: BenchmarkFixture) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    light = LightHistogram("t_seconds", "test", ("route",), FAST_BUCKETS, registry=ours)
    reference = Histogram("t_seconds", "test", ["route"], buckets=FAST_BUCKETS, registry=theirs)
    for value in VALUES:
        light.labels("/a").observe(value)
        reference.labels("/a").observe(value)
    assert _samples(ours) == _samples(theirs)
    benchmark(lambda: light.labels("/a").observe(0.0012))


def test_prometheus_histogram_for_comparison(benchmark: BenchmarkFixture) -> None:
    reference = Histogram(
        "t_seconds", "test", ["route"], buckets=FAST_BUCKETS, registry=CollectorRegistry()
    )
    benchmark(lambda: reference.labels("/a").observe(0.0012))
    assert reference.labels("/a")._sum.get() > 0


def _request(app: FastAPI) -> Callable[[], tuple[int, bytes]]:
    """One in-process HTTP request through the whole ASGI app: (status, body)."""
    loop = asyncio.new_event_loop()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "root_path": "",
    }

    async def once() -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    return lambda: loop.run_until_complete(once())


def sync_dependency(request: Request) -> int:
    return 7


async def async_dependency(request: Request) -> int:
    return 7


SyncValue = Annotated[int, Depends(sync_dependency)]
AsyncValue = Annotated[int, Depends(async_dependency)]
sync_app, async_app = FastAPI(), FastAPI()


@sync_app.get("/")
async def sync_route(value: SyncValue) -> Response:
    return Response(str(value).encode())


@async_app.get("/")
async def async_route(value: AsyncValue) -> Response:
    return Response(str(value).encode())


def test_async_dependency_request(benchmark: BenchmarkFixture) -> None:
    assert benchmark(_request(async_app)) == (200, b"7")


def test_sync_dependency_request_for_comparison(benchmark: BenchmarkFixture) -> None:
    assert benchmark(_request(sync_app)) == (200, b"7")
