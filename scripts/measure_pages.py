#!/usr/bin/env python3
"""FCP, LCP and time to interactive of careslot's main pages in headless chromium.

    python scripts/measure_pages.py                 # starts its own server on a scratch DB
    python scripts/measure_pages.py --url http://127.0.0.1:8000   # a running `serve --demo`

With no --url it needs DATABASE_URL (a PostgreSQL server URL; a database named
careslot_measure is created afresh on it) and runs `careslot serve --demo` on a free port.
The server is warmed first. For each page it reports the median of --runs loads (and the
fastest FCP, fcp_min, which a busy shared machine disturbs least):
  cold      a fresh browser context (empty HTTP cache, no service worker)
  sw-warm   the same context after the service worker has installed and the page was seen
and then the time of a navigation that Speculation Rules prefetched on hover, next to the
same navigation without a prefetch, and the same navigation prerendered on hover (driven
through tests/web/tab.py, since Chrome does not prerender under Playwright), next to a bare
page prerendered the same way. Figures are milliseconds from navigation start; for a
prerendered page, from the click that shows it (activationStart), as the page reports them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.web.tab
from tests.web.tab import Tab

CHROMIUM = os.environ.get("CARESLOT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = ["/login", "/dashboard", "/book", "/calendar"]
PATIENT = ("patient@demo.careslot", "careslot-demo")
TIMINGS_JS = """() => new Promise(resolve => {
  const done = () => {
    const t = window.careslotTimings || {};
    const nav = performance.getEntriesByType('navigation')[0];
    if (t.fcp == null || t.tti == null) return setTimeout(done, 20);
    resolve({fcp: t.fcp, lcp: t.lcp, tti: t.tti, ttfb: nav.responseStart,
             delivery: nav.deliveryType || '', domReady: nav.domContentLoadedEventEnd});
  };
  done();
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_server() -> Iterator[str]:
    base = os.environ.get("DATABASE_URL")
    if not base:
        sys.exit("set DATABASE_URL (a PostgreSQL server) or pass --url of a running server")
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("drop database if exists careslot_measure with (force)")
        conn.execute("create database careslot_measure")
    url = urlunsplit(urlsplit(base)._replace(path="/careslot_measure"))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url}
    careslot = str(Path(sys.executable).with_name("careslot"))  # this environment's CLI
    log = tempfile.NamedTemporaryFile("w+", prefix="careslot-measure-", suffix=".log", delete=False)
    proc = subprocess.Popen(  # noqa: S603
        [careslot, "serve", "--demo", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(address + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("careslot did not start")
            time.sleep(0.2)
        yield address
    except BaseException:
        print(f"server log: {log.name}", file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def warm(address: str) -> None:
    """Warm the server: templates compiled, caches filled, connections open."""
    with httpx.Client(base_url=address, timeout=10) as c:
        r = c.post("/api/auth/login", json={"email": PATIENT[0], "password": PATIENT[1]})
        r.raise_for_status()
        for _ in range(5):
            for path in [*PAGES, "/static/app.js", "/static/styles.css", "/sw.js"]:
                c.get(path)


def sign_in(context: Any, address: str) -> None:
    r = context.request.post(
        address + "/api/auth/login", data={"email": PATIENT[0], "password": PATIENT[1]}
    )
    assert r.ok, r.text()


def load(page: Any, address: str, path: str) -> dict[str, Any]:
    page.goto(address + path)
    timings: dict[str, Any] = page.evaluate(TIMINGS_JS)
    return timings


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def best(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(min(values), 1) if values else None


@contextmanager
def bare_page() -> Iterator[str]:
    """A 70-byte HTML page from the standard library: this machine's and this browser's
    floor for FCP, to read the careslot figures against (a busy machine raises both)."""
    import http.server
    import socketserver
    import threading

    bare = b"<!doctype html><title>floor</title><h1>Hello</h1><p>A bare page.</p>"

    class Bare(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = LINK_PAGE if self.path == "/from" else bare
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Bare)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# The bare page's floor for a prerendered navigation: a link to it under the same rule.
LINK_PAGE = (
    b'<!doctype html><title>from</title><script type="speculationrules">'
    b'{"prerender": [{"source": "document", "where": {"href_matches": "/*"},'
    b' "eagerness": "moderate"}]}</script><main><a href="/">the bare page</a></main>'
)
FLOOR_JS = """() => new Promise(resolve => {
  const done = () => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    if (!paint) return setTimeout(done, 10);
    const nav = performance.getEntriesByType('navigation')[0];
    resolve({fcp: paint.startTime, ttfb: nav.responseStart});
  };
  done();
})"""


def floor(browser: Any, runs: int) -> dict[str, Any]:
    rows = []
    with bare_page() as url:
        for _ in range(runs):
            context = browser.new_context()
            page = context.new_page()
            page.goto(url)
            rows.append(page.evaluate(FLOOR_JS))
            context.close()
    return {
        "page": "(bare 70-byte page)",
        "kind": "floor",
        "ttfb": median(rows, "ttfb"),
        "fcp": median(rows, "fcp"),
        "fcp_min": best(rows, "fcp"),
    }


def measure(address: str, runs: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        results.append(floor(browser, runs))
        for path in PAGES:
            cold, warm_sw = [], []
            for _ in range(runs):
                context = browser.new_context()
                if path != "/login":
                    sign_in(context, address)
                page = context.new_page()
                cold.append(load(page, address, path))
                page.evaluate("navigator.serviceWorker.ready.then(() => true)")
                for _ in range(20):  # until the worker controls the page
                    if page.evaluate("navigator.serviceWorker.controller !== null"):
                        break
                    page.wait_for_timeout(50)
                load(page, address, path)  # seen once under the worker
                warm_sw.append(load(page, address, path))
                context.close()
            for kind, rows in (("cold", cold), ("sw-warm", warm_sw)):
                results.append(
                    {
                        "page": path,
                        "kind": kind,
                        "fcp_min": best(rows, "fcp"),
                        **{k: median(rows, k) for k in ("ttfb", "fcp", "lcp", "tti")},
                    }
                )
        results.extend(prefetched(browser, address, runs))
        browser.close()
    results.extend(asyncio.run(prerendered(address, runs)))
    return results


def prefetched(browser: Any, address: str, runs: int) -> list[dict[str, Any]]:
    """Dashboard -> Book: hovering the link lets Speculation Rules prefetch the page."""
    rows: dict[str, list[dict[str, Any]]] = {"plain": [], "prefetched": []}
    for _ in range(runs):
        for kind in rows:
            context = browser.new_context()
            sign_in(context, address)
            page = context.new_page()
            load(page, address, "/dashboard")
            link = page.locator("main a[href='/book']").first
            if kind == "prefetched":
                link.hover()
                page.wait_for_timeout(600)  # "moderate" eagerness starts after ~200 ms
            started = time.perf_counter()
            if kind == "prefetched":
                link.click()
            else:  # the keyboard: no hover, so nothing is prefetched
                link.focus()
                page.keyboard.press("Enter")
            page.wait_for_url("**/book")
            timings = page.evaluate(TIMINGS_JS)
            timings["click_to_fcp"] = timings["fcp"]
            timings["wall"] = (time.perf_counter() - started) * 1000
            rows[kind].append(timings)
            context.close()
    out = []
    for kind, found in rows.items():
        out.append(
            {
                "page": "/dashboard -> /book",
                "kind": kind,
                "fcp_min": best(found, "fcp"),
                "delivery": ",".join(sorted({r["delivery"] or "network" for r in found})),
                **{k: median(found, k) for k in ("ttfb", "fcp", "lcp", "tti", "wall")},
            }
        )
    return out


async def prerendered(address: str, runs: int) -> list[dict[str, Any]]:
    """Dashboard -> Book again, in a tab where Chrome may prerender: hovering the link lets
    the Speculation Rules prerender /book, and the click shows it. One browser per row, as
    a person who has used the site before (one navigation to warm it, then `runs`); `wall`
    is from the click to the prerendered page being the tab's, as this script sees it."""
    out = []
    with bare_page() as floor_url:
        for kind, start, link, target in (
            ("floor", floor_url + "from", "main a", "/"),
            ("page", address + "/dashboard", "main a[href='/book']", "/book"),
        ):
            found = []
            async with Tab.launch(CHROMIUM, ARGS) as tab:
                if kind == "page":
                    await tab.sign_in(address, *PATIENT)
                for _ in range(runs + 1):
                    await tab.goto(start)
                    await tab.hover(link)
                    await tab.wait_for_prerender(target)
                    started = time.perf_counter()
                    await tab.click(link)
                    wall = (time.perf_counter() - started) * 1000
                    timings = await tab.evaluate(
                        f"({FLOOR_JS if kind == 'floor' else TIMINGS_JS})()"
                    )
                    activation = await tab.evaluate(
                        "performance.getEntriesByType('navigation')[0].activationStart"
                    )
                    if not activation:
                        raise RuntimeError(f"{target} was not prerendered")
                    if kind == "floor":  # a bare page has no script to count from the click
                        timings["fcp"] = max(0.0, timings["fcp"] - activation)
                    found.append({**timings, "wall": wall})
            out.append(
                {
                    "page": "(bare page)" if kind == "floor" else "/dashboard -> /book",
                    "kind": "prerendered",
                    "fcp_min": best(found[1:], "fcp"),
                    "delivery": "prerender",
                    **{k: median(found[1:], k) for k in ("fcp", "lcp", "tti", "wall")},
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running careslot with the demo hospital")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with own_server() if not args.url else _given(args.url) as address:
        warm(address)
        results = measure(address, args.runs)
    columns = ("ttfb", "fcp", "fcp_min", "lcp", "tti", "wall")
    heads = " ".join(f"{k:>7}" for k in columns)
    print(f"{'page':24} {'kind':11} {heads}  delivery")
    for r in results:
        cells = [f"{r.get(k) if r.get(k) is not None else '-':>7}" for k in columns]
        print(f"{r['page']:24} {r['kind']:11} {' '.join(cells)}  {r.get('delivery', '')}")


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url.rstrip("/")


if __name__ == "__main__":
    main()
