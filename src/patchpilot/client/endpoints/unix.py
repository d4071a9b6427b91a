"""The Linux log endpoint: a Unix socket, mode 0600 (root only), in the round's 0700 folder.

Paths longer than sun_path allows (run ids near 64 characters) are bound and connected through
/proc/self/fd of the folder, so the socket still lives at its documented path.
"""

import contextlib
import os
import select
import socket
import time
from typing import Callable, Optional, TypeVar

from patchpilot.client.endpoints.base import Endpoint, Stream

__all__ = ["SocketStream", "UnixEndpoint", "connect_unix"]

_SUN_PATH_MAX = 107
T = TypeVar("T")


class SocketStream(Stream):
    """A connected socket in non-blocking mode; timeouts come from select."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._closed = False

    def recv(self, max_bytes: int, timeout: Optional[float]) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._wait(True, None if deadline is None else deadline - time.monotonic())
            try:
                return self._sock.recv(max_bytes)
            except BlockingIOError:
                continue  # a spurious wake-up
            except OSError:
                if self._closed:
                    return b""
                raise

    def send(self, data: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            self._wait(False, deadline - time.monotonic())
            try:
                sent = self._sock.send(view)
            except BlockingIOError:
                continue
            view = view[sent:]

    def _wait(self, readable: bool, timeout: Optional[float]) -> None:
        if self._closed:
            raise OSError("stream closed")
        if timeout is not None and timeout <= 0:
            raise TimeoutError("peer too slow")
        watched = [self._sock]
        ready = (
            select.select(watched, [], [], timeout)
            if readable
            else select.select([], watched, [], timeout)
        )
        if not ready[0] and not ready[1]:
            raise TimeoutError("no data within %.1f s" % (timeout or 0))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()


def _via_short_path(path: str, action: Callable[[str], T]) -> T:
    """Call action with path, or with a /proc/self/fd alias when path is too long to bind."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        return action(path)
    dir_fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        return action("/proc/self/fd/%d/%s" % (dir_fd, os.path.basename(path)))
    finally:
        os.close(dir_fd)


class UnixEndpoint(Endpoint):
    """Listen on path (an old socket file there is replaced)."""

    def __init__(self, path: str) -> None:
        self.address = path
        if os.path.exists(path):
            os.unlink(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            _via_short_path(path, self._sock.bind)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._sock.listen(16)
        self._closed = False

    def accept(self) -> Optional[Stream]:
        while not self._closed:
            ready, _, _ = select.select([self._sock], [], [], 0.5)
            if not ready or self._closed:
                continue
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            return SocketStream(conn)
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.address)


def connect_unix(path: str, timeout: float = 5.0) -> SocketStream:
    """Connect to the endpoint at path; raise OSError when nothing listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        _via_short_path(path, sock.connect)
    except OSError:
        sock.close()
        raise
    return SocketStream(sock)
