"""A Stream over two file descriptors (stdin/stdout of `attach`).

`FdStream` waits with select, which POSIX allows on pipes; Windows' select takes sockets
only, so `ThreadedFdStream` reads and writes in two worker threads and waits on queues.
`stdio_stream` picks the one this OS needs.
"""

import os
import queue
import select
import threading
import time
from typing import Optional, Tuple

from patchpilot.client.endpoints.base import Stream
from patchpilot.client.platforms import PIPES_SELECT, binary_fds

__all__ = ["FdStream", "ThreadedFdStream", "stdio_stream"]


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


class ThreadedFdStream(Stream):
    """Read and write two descriptors in daemon threads; timeouts come from queue waits."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._out = write_fd
        self._inbox: "queue.Queue[bytes]" = queue.Queue()
        self._outbox: "queue.Queue[Tuple[bytes, threading.Event]]" = queue.Queue()
        self._closed = False
        threading.Thread(target=self._read_loop, args=(read_fd,), daemon=True).start()
        threading.Thread(target=self._write_loop, daemon=True).start()

    def _read_loop(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 65536)
            except OSError:
                data = b""
            self._inbox.put(data)
            if not data:
                return

    def _write_loop(self) -> None:
        while True:
            data, done = self._outbox.get()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._out, view) :]
            except OSError:
                return  # the reader went away; senders time out
            done.set()

    def recv(self, max_bytes: int, timeout: Optional[float]) -> bytes:
        if self._closed:
            return b""
        try:
            data = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no data within %.1f s" % (timeout or 0)) from None
        if not data:
            self._inbox.put(b"")  # end of stream stays the end for every later recv
        if len(data) > max_bytes:  # keep the rest for the next recv, in order
            rest = data[max_bytes:]
            with self._inbox.mutex:
                self._inbox.queue.appendleft(rest)
            data = data[:max_bytes]
        return data

    def send(self, data: bytes, timeout: float) -> None:
        done = threading.Event()
        self._outbox.put((data, done))
        if not done.wait(timeout):
            raise TimeoutError("peer too slow")

    def close(self) -> None:
        self._closed = True


def stdio_stream(read_fd: int, write_fd: int) -> Stream:
    """Return the Stream over two descriptors that works on this OS (binary on Windows)."""
    binary_fds((read_fd, write_fd))  # no CRLF translation of frames
    return FdStream(read_fd, write_fd) if PIPES_SELECT else ThreadedFdStream(read_fd, write_fd)
