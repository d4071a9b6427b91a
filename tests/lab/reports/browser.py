"""Headless Debian `chromium` driven through the DevTools protocol over a websocket.

Just enough of the protocol for a person's checks of a page: load it, collect console errors,
exceptions and every request the page makes, click at an element's centre, type, evaluate,
and take a full-page screenshot. The browser is the distribution's; nothing is downloaded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1280,900")  # fmt: skip


class Page:
    """One tab, attached in flat mode; events are kept for the test to inspect."""

    def __init__(self, socket: ClientConnection, session: str) -> None:
        self.socket = socket
        self.session = session
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """Send a command to the page; return its result (events seen meanwhile are kept)."""
        self._next += 1
        ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if self.session:  # empty: the browser itself
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result") or {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        """Return the first event named event (already seen, or arriving within timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            for seen in self.events:
                if seen["method"] == event:
                    return seen
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """Click at the centre of the first element matching selector, as a mouse would."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                      button="left", clickCount=1)  # fmt: skip

    def type(self, text: str) -> None:
        self.call("Input.insertText", text=text)

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the whole page (not only the window)."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip,
                         captureBeyondViewport=True)  # fmt: skip
        path.write_bytes(base64.b64decode(shot["data"]))

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]  # fmt: skip

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (CSP violations too)."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"]))
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(str(params["args"]))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(str(params["entry"]))
        return found


def _port(profile: Path, process: subprocess.Popen[bytes], timeout: float = 30) -> str:
    """Return the browser's websocket path on localhost, from its DevToolsActivePort file."""
    deadline = time.monotonic() + timeout
    active = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        if active.exists() and len(lines := active.read_text().split()) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")


@contextmanager
def open_page(url: str) -> Iterator[Page]:
    """Start chromium with a fresh profile, open url in a tab and wait for its load event."""
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("chromium is not installed (scripts/install.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="patchpilot-chromium-") as profile:
        argv = [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            with connect(_port(Path(profile), process), max_size=None) as socket:
                yield _attach(socket, url)
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the browser, then what is left of its session (renderers still writing the profile)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the group of the browser we started
        except ProcessLookupError:
            return
        time.sleep(0.1)


def _attach(socket: ClientConnection, url: str) -> Page:
    browser = Page(socket, "")
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)
    page = Page(socket, session["sessionId"])
    for domain in ("Page", "Runtime", "Log", "Network"):
        page.call(f"{domain}.enable")
    page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900,
              deviceScaleFactor=1, mobile=False)  # fmt: skip
    page.call("Page.navigate", url=url)
    page.wait_for("Page.loadEventFired")
    return page
