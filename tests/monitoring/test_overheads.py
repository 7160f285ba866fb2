"""Two hot-path choices, measured with pytest-benchmark.

The normal suite runs each benchmark once (`--benchmark-disable` is in pytest's addopts) and
checks its answer; the benchmark job (`.ci/run`: `pytest tests/monitoring/test_overheads.py
--benchmark-enable`) times them and asserts that careslot's choice beats what it replaces by
a margin: the lock-free histogram against prometheus_client's, and careslot's async context
dependency against the sync one (FastAPI runs a sync dependency in a thread pool).
"""

from __future__ import annotations

import asyncio
import timeit
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from pytest_benchmark.fixture import BenchmarkFixture
from starlette.responses import Response

from careslot.api.deps import context, get_ctx
from careslot.monitoring.metrics import FAST_BUCKETS, LightHistogram

# How much faster careslot's choice must be, at least (measured: about 6x for the histogram
# and 4x for the dependency on this 2-core machine).
MARGIN = 2.0

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


OurContext = Annotated[Any, Depends(context)]  # careslot's: async
SyncContext = Annotated[Any, Depends(get_ctx)]  # what it replaces: the same function, sync
our_context_app, sync_context_app = FastAPI(), FastAPI()
our_context_app.state.ctx = sync_context_app.state.ctx = "ctx"


@our_context_app.get("/")
async def our_context_route(value: OurContext) -> Response:
    return Response(str(value).encode())


@sync_context_app.get("/")
async def sync_context_route(value: SyncContext) -> Response:
    return Response(str(value).encode())


def _per_call(candidates: dict[str, Callable[[], Any]], number: int) -> dict[str, float]:
    """The best of several interleaved rounds, per call, for each candidate (interleaved so
    that a busy moment on the shared machine hits both alike)."""
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(7):
        for name, fn in candidates.items():
            best[name] = min(best[name], timeit.timeit(fn, number=number) / number)
    return best


@pytest.fixture
def benchmark_job(benchmark: BenchmarkFixture) -> None:
    benchmark(lambda: None)  # the fixture must be used once; the comparison is timed below
    if benchmark.disabled:
        pytest.skip("timing comparisons run in the benchmark job (--benchmark-enable)")


def test_light_histogram_beats_prometheus_by_a_margin(benchmark_job: None) -> None:
    light = LightHistogram("t_seconds", "t", ("route",), FAST_BUCKETS, registry=CollectorRegistry())
    reference = Histogram(
        "t_seconds", "t", ["route"], buckets=FAST_BUCKETS, registry=CollectorRegistry()
    )
    best = _per_call(
        {
            "careslot": lambda: light.labels("/a").observe(0.0012),
            "prometheus_client": lambda: reference.labels("/a").observe(0.0012),
        },
        number=20_000,
    )
    assert best["careslot"] * MARGIN < best["prometheus_client"], best


def test_async_context_dependency_beats_the_sync_one_by_a_margin(benchmark_job: None) -> None:
    ours, sync = _request(our_context_app), _request(sync_context_app)
    assert ours() == sync() == (200, b"ctx")
    best = _per_call({"careslot": ours, "sync": sync}, number=200)
    assert best["careslot"] * MARGIN < best["sync"], best
