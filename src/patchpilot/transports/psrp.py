"""The WinRM transport: commands, files and streams on a Windows target through pypsrp.

Commands run as WinRS processes in one shell per connection. Every argument list goes
through `powershell.windows_argv`, so what reaches cmd.exe on the target is inert tokens (a
PowerShell `-EncodedCommand` where quoting would otherwise be needed). Files are written by
a PowerShell script reading base64 on stdin (`powershell.write_file_argv`). A stream (for
`attach`) is a WinRS process whose stdin we feed and whose stdout we poll.

pypsrp is synchronous: its calls run in a worker thread, one at a time per connection.
pypsrp's exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pypsrp import exceptions as psrp_errors
from pypsrp.shell import CommandState, Process, SignalCode, WinRS
from pypsrp.wsman import WSMan
from requests import exceptions as http_errors

from patchpilot.errors import (
    AuthenticationError,
    ConnectError,
    OutputLimitError,
    TransportError,
    TransportTimeout,
)
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.limits import MAX_OUTPUT, check_size
from patchpilot.transports.local import check_result
from patchpilot.transports.powershell import windows_argv, write_file_argv

__all__ = ["PSRPSettings", "PSRPStream", "PSRPTransport"]

T = TypeVar("T")
_POLL_SECONDS = 1  # WinRS receive timeout per poll; a write waits at most this long
_STDIN_CHUNK = 32 * 1024  # stays far below the smallest default MaxEnvelopeSize (150 KB)


@dataclass(frozen=True)
class PSRPSettings:
    """How to reach a target's WinRM service."""

    host: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None  # 5986 with TLS, 5985 without
    ssl: bool = True
    auth: str = "negotiate"  # negotiate, kerberos, ntlm, credssp, certificate, basic
    cert_validation: bool = True
    connect_timeout: int = 30
    operation_timeout: int = 20
    max_output: int = MAX_OUTPUT  # bytes of stdout (and of stderr) a command may return


def translate(exc: Exception, what: str) -> TransportError:
    """Return the patchpilot error for a pypsrp/requests exception."""
    if isinstance(exc, psrp_errors.AuthenticationError):
        return AuthenticationError(f"WinRM refused the credentials ({what}): {exc}")
    if isinstance(exc, http_errors.Timeout):
        return TransportTimeout(f"WinRM timed out ({what}): {exc}")
    if isinstance(exc, http_errors.ConnectionError | OSError):
        return ConnectError(f"cannot reach WinRM ({what}): {exc}")
    return TransportError(f"WinRM error ({what}): {exc}")


_TRANSLATED = (psrp_errors.WinRMError, http_errors.RequestException, OSError)


class PSRPTransport(Transport):
    """One WinRM connection (one WinRS shell) to one Windows target."""

    name = "psrp"

    def __init__(
        self,
        settings: PSRPSettings,
        *,
        new_shell: Callable[[PSRPSettings], Any] | None = None,
        new_process: Callable[[Any, str, list[str]], Any] = Process,
    ) -> None:
        self.settings = settings
        self._new_shell = new_shell or winrs_shell
        self._new_process = new_process
        self._shell: Any = None
        self._lock = threading.Lock()

    async def connect(self) -> None:
        if self._shell is not None:
            return
        shell = self._new_shell(self.settings)
        await self._call("connect", shell.open)
        self._shell = shell

    async def close(self) -> None:
        shell, self._shell = self._shell, None
        if shell is not None:
            with contextlib.suppress(TransportError):  # the connection is gone either way
                await self._call("close", shell.close)

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> CommandResult:
        await self.connect()
        started = time.monotonic()
        process = self._start(argv)
        await self._call(f"starting {argv[0]}", process.begin_invoke)
        if input is not None:
            await self._send(process, input, end=True)
        deadline = started + timeout
        while process.state != CommandState.DONE:
            if time.monotonic() > deadline:
                await self._call("stopping", lambda: process.signal(SignalCode.TERMINATE))
                raise TransportTimeout(f"{argv[0]} did not finish in {timeout:g} s")
            await self._call(f"running {argv[0]}", lambda: process.poll_invoke(_POLL_SECONDS))
            await self._check_bound(process, argv)
        result = CommandResult(
            tuple(argv),
            process.rc if process.rc is not None else 255,
            process.stdout.decode("utf-8", "replace"),
            process.stderr.decode("utf-8", "replace"),
            time.monotonic() - started,
        )
        return check_result(result) if check else result

    async def put(self, data: bytes, path: str, *, mode: int = 0o600) -> None:
        """Write data to path under %ProgramData%\\patchpilot; the ACL is SYSTEM+Admins."""
        await self.run(write_file_argv(path), input=base64.b64encode(data), check=True)

    async def open_stream(self, argv: Sequence[str]) -> Stream:
        await self.connect()
        process = self._start(argv)
        await self._call(f"starting {argv[0]}", process.begin_invoke)
        return PSRPStream(self, process)

    async def _check_bound(self, process: Any, argv: Sequence[str]) -> None:
        """Stop the process and raise OutputLimitError once its output passes the bound."""
        limit = self.settings.max_output
        try:
            check_size(len(process.stdout), limit, argv, "output")
            check_size(len(process.stderr), limit, argv, "error output")
        except OutputLimitError:
            with contextlib.suppress(TransportError):
                await self._call("stopping", lambda: process.signal(SignalCode.TERMINATE))
            raise

    def _start(self, argv: Sequence[str]) -> Any:
        command = windows_argv(argv)
        return self._new_process(self._shell, command[0], command[1:])

    async def _send(self, process: Any, data: bytes, *, end: bool) -> None:
        chunks = [data[i : i + _STDIN_CHUNK] for i in range(0, len(data), _STDIN_CHUNK)] or [b""]
        for index, chunk in enumerate(chunks):
            last = end and index == len(chunks) - 1
            await self._call("sending input", functools.partial(process.send, chunk, end=last))

    async def _call(self, what: str, work: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work()

        try:
            return await asyncio.to_thread(locked)
        except _TRANSLATED as exc:
            raise translate(exc, what) from exc


class PSRPStream(Stream):
    """stdin/stdout of a WinRS process, polled."""

    def __init__(self, transport: PSRPTransport, process: Any) -> None:
        self._transport = transport
        self._process = process
        self._offset = 0

    async def read(self, n: int = 65536) -> bytes:
        process = self._process
        while self._offset >= len(process.stdout):
            if process.state == CommandState.DONE:
                return b""
            await self._transport._call("reading", lambda: process.poll_invoke(_POLL_SECONDS))
        data: bytes = process.stdout[self._offset : self._offset + n]
        self._offset += len(data)
        if self._offset >= len(process.stdout):  # pypsrp appends forever: drop what was read
            process.stdout, self._offset = b"", 0
        return data

    async def write(self, data: bytes) -> None:
        await self._transport._send(self._process, data, end=False)

    async def close(self) -> None:
        if self._process.state != CommandState.DONE:
            with contextlib.suppress(TransportError):  # closing a broken stream is no error
                await self._transport._send(self._process, b"", end=True)
                await self._transport._call(
                    "stopping", lambda: self._process.signal(SignalCode.TERMINATE)
                )


def winrs_shell(settings: PSRPSettings) -> WinRS:
    """Return an unopened WinRS shell over a WSMan connection made from settings."""
    wsman = WSMan(
        settings.host,
        port=settings.port,
        username=settings.username,
        password=settings.password,
        ssl=settings.ssl,
        auth=settings.auth,
        cert_validation=settings.cert_validation,
        connection_timeout=settings.connect_timeout,
        operation_timeout=settings.operation_timeout,
    )
    return WinRS(wsman)
