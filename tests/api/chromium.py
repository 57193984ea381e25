"""Headless Chromium driven over the DevTools protocol (CDP), for the browser tests.

:func:`chromium_executable` is the browser (``KINESTREAM_CHROMIUM``, which infra/test.sh
sets from infra/chromium.sh); without it a test is skipped, or fails where
``KINESTREAM_REQUIRE_SERVICES=1`` or ``CI`` is set, as the Kafka and PostgreSQL fixtures do.
:func:`launched` starts it headless on a throwaway profile and always stops it; a
:class:`Page` is one tab, attached as a flat CDP session on the browser's one socket.
JavaScript exceptions and console errors of a page are collected in ``Page.problems``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

_DEVTOOLS_URL = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_executable() -> str:
    """The Chromium to run (``KINESTREAM_CHROMIUM``); skip or fail without one."""
    path = os.environ.get("KINESTREAM_CHROMIUM", "")
    if path:
        return path
    message = "no Chromium: set KINESTREAM_CHROMIUM (`make test` finds one with infra/chromium.sh)"
    if os.environ.get("KINESTREAM_REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Browser:
    """A connected browser: send CDP commands, to the browser or to one page's session."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.problems: dict[str, list[str]] = {}
        """JavaScript exceptions and console errors, by page session."""

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session_id: str | None = None,
        timeout_s: float = 15.0,
    ) -> dict[str, Any]:
        """Run one command and return its result; events seen meanwhile are recorded."""
        command_id = next(self._ids)
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout_s
        while True:
            reply = json.loads(self._socket.recv(timeout=max(0.01, deadline - time.monotonic())))
            if reply.get("id") == command_id:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self._record(reply)

    def _record(self, event: dict[str, Any]) -> None:
        params = event.get("params", {})
        problem = None
        if event.get("method") == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            problem = details.get("exception", {}).get("description") or details.get("text")
        elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
            problem = params["entry"]["text"]
        if problem is not None:
            self.problems.setdefault(event.get("sessionId", ""), []).append(str(problem))

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        """A new tab of ``width`` by ``height`` CSS pixels."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.set_viewport(width, height)
        return page


class Page:
    """One tab of the browser."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self._browser = browser
        self._session_id = session_id

    @property
    def problems(self) -> list[str]:
        """This page's JavaScript exceptions and console errors so far."""
        return self._browser.problems.get(self._session_id, [])

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one CDP command in this page."""
        return self._browser.send(method, params, self._session_id)

    def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Emulate a window of ``width`` by ``height`` CSS pixels (a phone's with ``mobile``)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": height,
                "deviceScaleFactor": 2 if mobile else 1,
                "mobile": mobile,
            },
        )

    def navigate(self, url: str, timeout_s: float = 15.0) -> None:
        """Load ``url`` and wait until the document has loaded."""
        result = self.send("Page.navigate", {"url": url})
        assert "errorText" not in result, result
        self.wait_for("document.readyState === 'complete'", timeout_s, f"{url} to load")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float, what: str) -> Any:
        """Poll ``expression`` until it is truthy (and return it); fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> bytes:
        """Save a PNG of the whole page (not just the window) to ``path``; return it."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
        )
        png = base64.b64decode(shot["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png


def _devtools_url(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """Read Chromium's stderr (on, in a thread) until it says where DevTools listens."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            lines.put(raw.decode(errors="replace"))

    threading.Thread(target=read, name="chromium-stderr", daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        match = _DEVTOOLS_URL.search(line)
        if match:
            return match.group(1)
    output = "".join(seen)[-2000:]
    raise AssertionError(f"Chromium did not open DevTools in {timeout_s} s: {output}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop Chromium and its helper processes (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(5)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def launched(executable: str, profile: Path, timeout_s: float = 30.0) -> Iterator[Browser]:
    """Headless Chromium on the throwaway profile directory ``profile``, stopped on exit."""
    process = subprocess.Popen(
        [
            executable,
            "--headless=new",
            "--no-sandbox",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--mute-audio",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        url = _devtools_url(process, timeout_s)
        with connect(url, max_size=None, open_timeout=timeout_s) as socket:
            yield Browser(socket)
    finally:
        _stop(process)
