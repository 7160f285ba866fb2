"""One chromium tab driven over the DevTools protocol, with prerendering left on.

Playwright holds each page through its page target, and Chrome refuses to prerender for a
page held that way (the Preload domain reports `PrerenderingDisabledByDevTools`), so under
Playwright the Speculation Rules' prerender never happens. This holds the *tab* target
instead, as Puppeteer does, and reaches the page through the tab's auto-attached sessions,
which leaves prerendering on. It is just enough of the protocol to open a page, hover, click,
follow a click into the prerendered page it activated, and read that page: for
`tests/web/test_prerender.py` and `scripts/measure_pages.py`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import websockets

Event = dict[str, Any]


class Tab:
    def __init__(self, socket: websockets.ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: list[Event] = []
        self._arrived = asyncio.Event()
        self.session = ""  # the page's session: the page shown in the tab
        self.prerenders: dict[str, str] = {}  # session -> target id, of pages being prerendered

    @classmethod
    @asynccontextmanager
    async def launch(cls, chromium: str, args: list[str]) -> AsyncIterator[Tab]:
        with tempfile.TemporaryDirectory(
            prefix="careslot-tab-", ignore_cleanup_errors=True
        ) as profile:
            process = subprocess.Popen(  # noqa: S603
                [
                    chromium,
                    "--headless",
                    "--remote-debugging-port=0",
                    f"--user-data-dir={profile}",
                    *args,
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                address = await _devtools_address(Path(profile), process)
                async with websockets.connect(address, max_size=None) as socket:
                    tab = cls(socket)
                    reader = asyncio.create_task(tab._read())
                    try:
                        await tab._attach()
                        yield tab
                    finally:
                        reader.cancel()
            finally:
                process.terminate()
                process.wait(timeout=10)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        number = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._answers[number] = answer
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self._socket.send(json.dumps(message))
        reply = await asyncio.wait_for(answer, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def evaluate(self, expression: str, session: str | None = None) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        reply = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session or self.session,
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def until(self, expression: str, timeout: float = 10) -> Any:
        """Evaluate until the expression is truthy; its value."""
        async with asyncio.timeout(timeout):
            while not (value := await self.evaluate(expression)):
                await asyncio.sleep(0.02)
        return value

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url}, self.session)
        await self.until(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        )

    async def sign_in(self, base_url: str, email: str, password: str) -> None:
        """Sign in from the login page, as its script does: the session cookie is the tab's."""
        await self.goto(base_url + "/login")
        body = json.dumps({"email": email, "password": password})
        status = await self.evaluate(
            f"fetch('/api/auth/login', {{method: 'POST', body: {json.dumps(body)},"
            " headers: {'Content-Type': 'application/json'}}).then(r => r.status)"
        )
        if status != 200:
            raise RuntimeError(f"sign-in as {email} answered {status}")

    async def hover(self, selector: str) -> None:
        x, y = await self._centre(selector)
        await self._mouse("mouseMoved", x, y)

    async def click(self, selector: str) -> None:
        """Click, then follow the tab into the page it shows: a prerendered page that the
        click activated (its session becomes the tab's) or the page it loaded."""
        x, y = await self._centre(selector)
        before = await self.evaluate("performance.timeOrigin")
        await self._mouse("mousePressed", x, y, button="left", clickCount=1)
        await self._mouse("mouseReleased", x, y, button="left", clickCount=1)
        loaded = f"performance.timeOrigin !== {before} && document.readyState === 'complete'"
        async with asyncio.timeout(10):
            while True:
                for session in list(self.prerenders):
                    if await self._probe("!document.prerendering", session):
                        self.session = session
                        del self.prerenders[session]
                        return
                if await self._probe(loaded, self.session):
                    return
                await asyncio.sleep(0.01)

    async def wait_for_prerender(self, path: str, timeout: float = 10) -> str:
        """The session of a prerender of `path` once its document has loaded."""
        loaded = f"location.pathname === {json.dumps(path)} && document.readyState === 'complete'"
        async with asyncio.timeout(timeout):
            while True:
                for session in list(self.prerenders):
                    if await self._probe(loaded, session):
                        return session
                await asyncio.sleep(0.02)

    # ---------- internals ----------

    async def _attach(self) -> None:
        """Hold the tab target and let it attach its page (and later prerenders) to us."""
        found = await self.send("Target.getTargets", {"filter": [{"type": "tab"}]})
        tab = found["targetInfos"][0]["targetId"]
        held = await self.send("Target.attachToTarget", {"targetId": tab, "flatten": True})
        await self.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True},
            held["sessionId"],
        )
        page = await self._next(
            lambda e: (
                e["method"] == "Target.attachedToTarget"
                and e["params"]["targetInfo"]["type"] == "page"
                and not e["params"]["targetInfo"].get("subtype")
            )
        )
        self.session = page["params"]["sessionId"]
        await self.send("Page.bringToFront", None, self.session)  # activation needs a shown tab
        await self.send("Preload.enable", None, self.session)

    async def _read(self) -> None:
        async for raw in self._socket:
            message = json.loads(raw)
            if "id" in message:
                answer = self._answers.pop(message["id"], None)
                if answer is not None and not answer.done():
                    answer.set_result(message)
                continue
            self._events.append(message)
            params = message.get("params", {})
            if message["method"] == "Target.attachedToTarget":
                info = params["targetInfo"]
                if info.get("subtype") == "prerender":
                    self.prerenders[params["sessionId"]] = info["targetId"]
            elif message["method"] == "Target.detachedFromTarget":
                self.prerenders.pop(params["sessionId"], None)
            self._arrived.set()

    async def _next(self, wanted: Callable[[Event], bool], timeout: float = 10) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                for event in self._events:
                    if wanted(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

    async def _probe(self, expression: str, session: str) -> Any:
        """The expression's value in that session, or None while it cannot answer (a page
        not committed yet, navigating away, or gone with its prerender)."""
        try:
            return await asyncio.wait_for(self.evaluate(expression, session), 1)
        except (RuntimeError, TimeoutError):
            return None

    async def _centre(self, selector: str) -> tuple[float, float]:
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        if box is None:
            raise LookupError(f"no element matches {selector!r}")
        return float(box[0]), float(box[1])

    async def _mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        await self.send(
            "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **extra}, self.session
        )


async def _devtools_address(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """Chromium writes its DevTools port and path to the profile once it listens."""
    marker = profile / "DevToolsActivePort"
    async with asyncio.timeout(30):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            lines = marker.read_text().split() if marker.exists() else []
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            await asyncio.sleep(0.05)
