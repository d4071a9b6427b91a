"""The named-pipe endpoint over an in-memory fake of the Win32 pipe calls.

No Windows here: the fake follows the documented call contracts (overlapped I/O returning
ERROR_IO_PENDING, ERROR_PIPE_CONNECTED, ERROR_BROKEN_PIPE; FILE_FLAG_FIRST_PIPE_INSTANCE
refusing a taken name) so that every path of pipe.py runs; it proves the call sequence, not
Windows' behaviour.
"""

import ctypes
import sys
from typing import Any, Dict, List, Set, Tuple

import pytest

from patchpilot.client.endpoints import pipe
from patchpilot.client.endpoints.pipe import PipeEndpoint, _Win32, connect_pipe, pipe_name

# ctypes.wintypes imports off Windows from 3.8 on ("_type_ 'v' not supported" before).
pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 8) and sys.platform != "win32", reason="ctypes.wintypes off Windows"
)

INVALID = ctypes.c_void_p(-1).value

SECRET = "ab" * 32


class FakeKernel:
    def __init__(self) -> None:
        self.error = 0
        self.next = 100
        self.pipes: Dict[str, List[Dict[str, Any]]] = {}
        self.ends: Dict[int, Dict[str, Any]] = {}  # handle -> {"in": bytearray, "peer": h}
        self.pending: Dict[int, Tuple[str, int, Any, int]] = {}  # event -> (op, handle, buf, n)
        self.done: Dict[int, int] = {}
        self.cancelled: Set[int] = set()
        self.created: List[Tuple[str, int, int]] = []
        self.sddl: List[str] = []
        self.closed: List[int] = []

    def _handle(self) -> int:
        self.next += 1
        return self.next

    # advapi32
    def ConvertStringSecurityDescriptorToSecurityDescriptorW(self, sddl, rev, out, _):
        self.sddl.append(sddl.value)
        out._obj.value = 4242
        return 1

    # kernel32: pipes
    def CreateNamedPipeW(self, name, flags, mode, instances, out, inb, timeout, attrs):
        name = name.value
        if flags & pipe.FILE_FLAG_FIRST_PIPE_INSTANCE and name in self.pipes:
            self.error = 5
            return INVALID
        handle = self._handle()
        self.created.append((name, flags, mode))
        self.pipes.setdefault(name, []).append({"handle": handle, "client": None})
        self.ends[handle] = {"in": bytearray(), "peer": None, "eof": False}
        return handle

    def ConnectNamedPipe(self, handle, ov):
        if self.ends[handle]["peer"] is not None:
            self.error = pipe.ERROR_PIPE_CONNECTED
            return 0
        self.pending[ov._obj.hEvent] = ("connect", handle, None, 0)
        self.error = pipe.ERROR_IO_PENDING
        return 0

    def WaitNamedPipeW(self, name, ms):
        return name.value in self.pipes

    def CreateFileW(self, name, access, share, sa, disposition, flags, template):
        free = [i for i in self.pipes.get(name.value, []) if i["client"] is None]
        if not free:
            self.error = 2
            return INVALID
        client = self._handle()
        free[0]["client"] = client
        self.ends[client] = {"in": bytearray(), "peer": free[0]["handle"], "eof": False}
        self.ends[free[0]["handle"]]["peer"] = client
        return client

    # kernel32: overlapped I/O
    def CreateEventW(self, *args):
        return self._handle()

    def ReadFile(self, handle, buffer, n, _, ov):
        self.pending[ov._obj.hEvent] = ("read", handle, buffer, n)
        if self._try(ov._obj.hEvent):
            return 1
        if self.ends[handle]["eof"]:
            self.error = pipe.ERROR_BROKEN_PIPE
            return 0
        self.error = pipe.ERROR_IO_PENDING
        return 0

    def WriteFile(self, handle, data, n, _, ov):
        peer = self.ends[handle]["peer"]
        self.ends[peer]["in"] += data[:n]
        self.done[ov._obj.hEvent] = n
        return 1

    def _try(self, event: int) -> bool:
        op, handle, buffer, n = self.pending[event]
        if op == "connect" and self.ends[handle]["peer"] is not None:
            self.done[event] = 0
        elif op == "read" and self.ends[handle]["in"]:
            data = bytes(self.ends[handle]["in"][:n])
            del self.ends[handle]["in"][:n]
            ctypes.memmove(buffer, data, len(data))
            self.done[event] = len(data)
        else:
            return False
        del self.pending[event]
        return True

    def WaitForSingleObject(self, event, ms):
        return 0 if event in self.done or self._try(event) else pipe.WAIT_TIMEOUT

    def GetOverlappedResult(self, handle, ov, done, wait):
        event = ov._obj.hEvent
        if event in self.pending:  # cancelled
            del self.pending[event]
            self.error = pipe.ERROR_OPERATION_ABORTED
            return 0
        done._obj.value = self.done.pop(event, 0)
        return 1

    def CancelIoEx(self, handle, ov):
        self.cancelled.add(handle)
        return 1

    def CloseHandle(self, handle):
        self.closed.append(handle)
        peer = self.ends.get(handle, {}).get("peer")
        if peer in self.ends:
            self.ends[peer]["eof"] = True
        return 1

    def FlushFileBuffers(self, handle):
        return 1

    def DisconnectNamedPipe(self, handle):
        return 1


@pytest.fixture
def kernel() -> FakeKernel:
    return FakeKernel()


@pytest.fixture
def api(kernel: FakeKernel) -> _Win32:
    return _Win32(k32=kernel, advapi=kernel, last_error=lambda: kernel.error)


def test_pipe_name() -> None:
    """The name ends with a tag of the run's secret: a local user cannot squat it first."""
    name = pipe_name("nightly-1", 2, "ab" * 32)
    assert name.startswith("\\\\.\\pipe\\patchpilot-nightly-1-2-") and len(name) == 48
    assert pipe_name("nightly-1", 2, "cd" * 32) != name  # another run's secret, another name
    assert pipe_name("nightly-1", 2, "ab" * 32) == name  # client and connector agree
    for run, number in (("a\\b", 1), ("..", 1), ("ok", 0), ("ok", 100), ("x y", 1)):
        with pytest.raises(ValueError):
            pipe_name(run, number, "ab" * 32)


def test_round_ones_name_does_not_give_away_round_twos(kernel: FakeKernel, api: _Win32) -> None:
    """The tag was per run: a user who saw round 1's pipe created round 2's name first."""
    seen = pipe_name("r1", 1, SECRET)
    guessed = seen.replace("patchpilot-r1-1-", "patchpilot-r1-2-")
    kernel.pipes[guessed] = [{"handle": 1, "client": None}]  # squatted by the local user
    endpoint = PipeEndpoint(pipe_name("r1", 2, SECRET), api=api)  # round 2 still starts
    assert pipe_name("r1", 2, SECRET) != guessed
    tags = {pipe_name(run, n, SECRET).rsplit("-", 1)[1] for run in ("r1", "r2") for n in (1, 2)}
    assert len(tags) == 4  # neither another round's nor another run's name tells the tag
    endpoint.close()


def test_endpoint_admits_only_system_and_admins(kernel: FakeKernel, api: _Win32) -> None:
    endpoint = PipeEndpoint(pipe_name("r1", 1, SECRET), api=api)
    assert kernel.sddl == ["D:P(A;;GA;;;SY)(A;;GA;;;BA)"]
    _, flags, mode = kernel.created[0]
    assert flags & pipe.FILE_FLAG_FIRST_PIPE_INSTANCE
    assert flags & pipe.FILE_FLAG_OVERLAPPED
    assert mode & pipe.PIPE_REJECT_REMOTE_CLIENTS
    endpoint.close()


def test_squatted_name_is_refused(kernel: FakeKernel, api: _Win32) -> None:
    kernel.pipes[pipe_name("r1", 1, SECRET)] = [{"handle": 1, "client": None}]
    with pytest.raises(OSError, match="CreateNamedPipeW"):
        PipeEndpoint(pipe_name("r1", 1, SECRET), api=api)


def test_connect_exchange_timeout_and_end(kernel: FakeKernel, api: _Win32) -> None:
    name = pipe_name("r1", 1, SECRET)
    endpoint = PipeEndpoint(name, api=api)
    client = connect_pipe(name, api=api)
    server = endpoint.accept()
    assert server is not None
    assert len(kernel.pipes[name]) == 2  # a fresh instance waits for the next connection
    assert not kernel.created[1][1] & pipe.FILE_FLAG_FIRST_PIPE_INSTANCE
    client.send(b"hello", timeout=1)
    assert server.recv(3, timeout=1) == b"hel"
    assert server.recv(100, timeout=1) == b"lo"
    with pytest.raises(TimeoutError):
        server.recv(100, timeout=0.01)
    server.send(b"rec", timeout=1)
    assert client.recv(100, timeout=None) == b"rec"
    client.close()
    assert server.recv(100, timeout=1) == b""
    server.close()
    endpoint.close()
    assert endpoint.accept() is None


def test_nobody_serving(api: _Win32) -> None:
    with pytest.raises(OSError, match="WaitNamedPipeW"):
        connect_pipe(pipe_name("r9", 1, SECRET), api=api)


def test_no_windows_here() -> None:
    if hasattr(ctypes, "WinDLL"):
        pytest.skip("on Windows")
    with pytest.raises(OSError, match="need Windows"):
        PipeEndpoint(pipe_name("r1", 1, SECRET))
