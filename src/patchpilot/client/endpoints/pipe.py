"""The Windows log endpoint: a named pipe only SYSTEM and Administrators may open.

Standard library only (ctypes), Python 3.9+, importable anywhere; the Win32 calls load on
first use. The pipe `\\\\.\\pipe\\patchpilot-<run>-<round>` is created with the security
descriptor `D:P(A;;GA;;;SY)(A;;GA;;;BA)` (protected: no inherited entries), refuses remote
clients (the connector's PowerShell relay opens it on the target itself), and its first
instance is created with FILE_FLAG_FIRST_PIPE_INSTANCE, so a process that squatted the name
first makes the client fail rather than talk to it. I/O is overlapped: each read and write
has its own event and timeout, one thread may read while another writes, and `close`
cancels whatever is pending.
"""

import ctypes
import functools
import threading
from typing import Any, Callable, Optional

from patchpilot.client.endpoints.base import Endpoint, Stream
from patchpilot.protocol.windows import pipe_name

__all__ = ["PIPE_SDDL", "PipeEndpoint", "PipeStream", "connect_pipe", "pipe_name"]

PIPE_SDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)"

PIPE_ACCESS_DUPLEX = 0x3
FILE_FLAG_OVERLAPPED = 0x40000000
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
PIPE_REJECT_REMOTE_CLIENTS = 0x8  # with PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT (0)
PIPE_UNLIMITED_INSTANCES = 255
GENERIC_READ_WRITE = 0x80000000 | 0x40000000
OPEN_EXISTING = 3
BUFFER = 65536
INFINITE = 0xFFFFFFFF
WAIT_TIMEOUT = 0x102
ERROR_BROKEN_PIPE = 109
ERROR_NO_DATA = 232
ERROR_PIPE_CONNECTED = 535
ERROR_OPERATION_ABORTED = 995
ERROR_IO_PENDING = 997
_ENDED = (ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_OPERATION_ABORTED)
_ACCEPT_POLL_MS = 500


class _Win32:
    """The few kernel32/advapi32 calls, with their ctypes structures, loaded on Windows."""

    def __init__(self, k32: Any = None, advapi: Any = None, last_error: Any = None) -> None:
        from ctypes import wintypes

        class Overlapped(ctypes.Structure):
            _fields_ = [
                ("Internal", ctypes.c_size_t),
                ("InternalHigh", ctypes.c_size_t),
                ("Offset", wintypes.DWORD),
                ("OffsetHigh", wintypes.DWORD),
                ("hEvent", wintypes.HANDLE),
            ]

        class SecurityAttributes(ctypes.Structure):
            _fields_ = [
                ("nLength", wintypes.DWORD),
                ("lpSecurityDescriptor", ctypes.c_void_p),
                ("bInheritHandle", wintypes.BOOL),
            ]

        self.Overlapped = Overlapped
        self.SecurityAttributes = SecurityAttributes
        self.DWORD = wintypes.DWORD
        if k32 is None:
            windll: Any = getattr(ctypes, "WinDLL")  # noqa: B009 - absent on POSIX
            k32 = windll("kernel32", use_last_error=True)
            advapi = windll("advapi32", use_last_error=True)
            last_error = getattr(ctypes, "get_last_error")  # noqa: B009
            for returns_handle in (k32.CreateNamedPipeW, k32.CreateFileW, k32.CreateEventW):
                returns_handle.restype = wintypes.HANDLE
        self.k32 = k32
        self.advapi = advapi
        self.last_error: Callable[[], int] = last_error
        self.invalid = ctypes.c_void_p(-1).value

    def error(self, what: str) -> OSError:
        code = self.last_error()
        return OSError(code, "%s failed (Windows error %d)" % (what, code))

    def security_attributes(self) -> Any:
        """Return SECURITY_ATTRIBUTES holding PIPE_SDDL (the descriptor is never freed)."""
        descriptor = ctypes.c_void_p()
        ok = self.advapi.ConvertStringSecurityDescriptorToSecurityDescriptorW(
            ctypes.c_wchar_p(PIPE_SDDL), 1, ctypes.byref(descriptor), None
        )
        if not ok:
            raise self.error("ConvertStringSecurityDescriptorToSecurityDescriptorW")
        return self.SecurityAttributes(ctypes.sizeof(self.SecurityAttributes), descriptor, False)

    def overlapped_io(
        self, handle: Any, start: Callable[[Any], int], timeout: Optional[float], what: str
    ) -> int:
        """Run one overlapped call; return bytes transferred, -1 when the pipe ended.

        Raise TimeoutError (after cancelling the call) when timeout seconds pass.
        """
        event = self.k32.CreateEventW(None, True, False, None)
        if not event:
            raise self.error("CreateEventW")
        overlapped = self.Overlapped(hEvent=event)
        done = self.DWORD(0)
        try:
            if not start(ctypes.byref(overlapped)):
                code = self.last_error()
                if code in _ENDED:
                    return -1
                if code not in (ERROR_IO_PENDING, ERROR_PIPE_CONNECTED):
                    raise OSError(code, "%s failed (Windows error %d)" % (what, code))
                if code == ERROR_PIPE_CONNECTED:
                    return 0
                wait = INFINITE if timeout is None else max(0, int(timeout * 1000))
                if self.k32.WaitForSingleObject(event, wait) == WAIT_TIMEOUT:
                    self.k32.CancelIoEx(handle, ctypes.byref(overlapped))
                    self.k32.GetOverlappedResult(
                        handle, ctypes.byref(overlapped), ctypes.byref(done), True
                    )
                    raise TimeoutError("%s: nothing within %.1f s" % (what, timeout or 0))
            if not self.k32.GetOverlappedResult(
                handle, ctypes.byref(overlapped), ctypes.byref(done), True
            ):
                code = self.last_error()
                if code in _ENDED:
                    return -1
                raise OSError(code, "%s failed (Windows error %d)" % (what, code))
            return int(done.value)
        finally:
            self.k32.CloseHandle(event)


_api: Optional[_Win32] = None
_api_lock = threading.Lock()


def win32() -> _Win32:
    """Return the loaded Win32 calls; raise OSError where there is no Windows."""
    global _api
    with _api_lock:
        if _api is None:
            if not hasattr(ctypes, "WinDLL"):
                raise OSError("named pipes need Windows")
            _api = _Win32()
        return _api


class PipeStream(Stream):
    """One connected pipe instance (server side) or client handle."""

    def __init__(self, handle: Any, is_server: bool, api: _Win32) -> None:
        self._api = api
        self._handle = handle
        self._is_server = is_server
        self._closed = False

    def recv(self, max_bytes: int, timeout: Optional[float]) -> bytes:
        if self._closed:
            return b""
        api = self._api
        buffer = ctypes.create_string_buffer(max_bytes)
        got = api.overlapped_io(
            self._handle,
            lambda ov: api.k32.ReadFile(self._handle, buffer, max_bytes, None, ov),
            timeout,
            "ReadFile",
        )
        return b"" if got <= 0 else buffer.raw[:got]

    def send(self, data: bytes, timeout: float) -> None:
        if self._closed:
            raise OSError("stream closed")
        api = self._api
        sent = api.overlapped_io(
            self._handle,
            lambda ov: api.k32.WriteFile(self._handle, data, len(data), None, ov),
            timeout,
            "WriteFile",
        )
        if sent != len(data):
            raise OSError("the pipe closed while writing")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        api = self._api
        api.k32.CancelIoEx(self._handle, None)
        if self._is_server:
            api.k32.FlushFileBuffers(self._handle)
            api.k32.DisconnectNamedPipe(self._handle)
        api.k32.CloseHandle(self._handle)


class PipeEndpoint(Endpoint):
    """Serve connections on a named pipe that only SYSTEM and Administrators can open."""

    def __init__(self, name: str, *, api: Optional[_Win32] = None) -> None:
        self.address = name
        self._api = api or win32()
        self._attributes = self._api.security_attributes()
        self._closed = False
        self._pending = self._new_instance(first=True)

    def _new_instance(self, first: bool) -> Any:
        flags = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED
        if first:
            flags |= FILE_FLAG_FIRST_PIPE_INSTANCE
        handle = self._api.k32.CreateNamedPipeW(
            ctypes.c_wchar_p(self.address),
            flags,
            PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES,
            BUFFER,
            BUFFER,
            0,
            ctypes.byref(self._attributes),
        )
        if handle == self._api.invalid or not handle:
            raise self._api.error("CreateNamedPipeW(%s)" % self.address)
        return handle

    def accept(self) -> Optional[Stream]:
        api = self._api
        while not self._closed:
            handle = self._pending
            try:
                api.overlapped_io(
                    handle,
                    functools.partial(api.k32.ConnectNamedPipe, handle),
                    _ACCEPT_POLL_MS / 1000.0,
                    "ConnectNamedPipe",
                )
            except TimeoutError:
                continue
            if self._closed:
                break
            self._pending = self._new_instance(first=False)
            return PipeStream(handle, True, api)
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._api.k32.CancelIoEx(self._pending, None)
        self._api.k32.CloseHandle(self._pending)


def connect_pipe(name: str, timeout: float = 5.0, api: Optional[_Win32] = None) -> PipeStream:
    """Open the endpoint's pipe as a client; raise OSError when nobody serves it."""
    api = api or win32()
    if not api.k32.WaitNamedPipeW(ctypes.c_wchar_p(name), int(timeout * 1000)):
        raise api.error("WaitNamedPipeW(%s)" % name)
    handle = api.k32.CreateFileW(
        ctypes.c_wchar_p(name),
        GENERIC_READ_WRITE,
        0,
        None,
        OPEN_EXISTING,
        FILE_FLAG_OVERLAPPED,
        None,
    )
    if handle == api.invalid or not handle:
        raise api.error("CreateFileW(%s)" % name)
    return PipeStream(handle, False, api)
