"""A loopback HTTP server standing in for webhooks (Slack, Teams Workflows, a JSON receiver).

Each path behaves one way: `/ok` answers 204, `/flaky` 500 twice and then 204, `/bad` 400,
`/down` always 503, `/slow` sleeps past any test's timeout before answering. Every request is
recorded (path, headers, JSON body), so tests check what was sent and how often.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Webhooks:
    base: str  # http://127.0.0.1:PORT
    received: list[Received] = field(default_factory=list)

    def bodies(self, path: str) -> list[Any]:
        return [r.body for r in self.received if r.path == path]


SLOW_SECONDS = 5.0


@contextmanager
def webhook_server() -> Iterator[Webhooks]:
    """Serve the webhook paths on 127.0.0.1 (a free port) while the block runs."""
    hooks = Webhooks("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with lock:
                hooks.received.append(
                    Received(self.path, dict(self.headers), json.loads(raw or b"null"))
                )
                tries = sum(1 for r in hooks.received if r.path == self.path)
            code = {"/ok": 204, "/bad": 400, "/down": 503}.get(self.path, 204)
            if self.path == "/flaky":
                code = 500 if tries <= 2 else 204
            if self.path == "/slow":
                time.sleep(SLOW_SECONDS)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hooks.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hooks
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
