"""A Stream over two file descriptors (stdin/stdout of `attach`), for POSIX pipes and ttys."""

from __future__ import annotations

import os
import select
import time
from typing import Optional

from patchpilot.client.endpoints.base import Stream

__all__ = ["FdStream"]


class FdStream(Stream):
    """Read from one descriptor, write to another; timeouts come from select."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._in = read_fd
        self._out = write_fd
        self._closed = False

    def recv(self, max_bytes: int, timeout: Optional[float]) -> bytes:
        if self._closed:
            return b""
        ready, _, _ = select.select([self._in], [], [], timeout)
        if not ready:
            raise TimeoutError("no data within %.1f s" % (timeout or 0))
        return os.read(self._in, max_bytes)

    def send(self, data: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            _, ready, _ = select.select([], [self._out], [], max(remaining, 0))
            if not ready:
                raise TimeoutError("peer too slow")
            view = view[os.write(self._out, view) :]

    def close(self) -> None:
        self._closed = True
