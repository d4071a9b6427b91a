"""A test double for the transport seam, driven by handler functions (like httpx's MockTransport).

`FakeTransport(handler)` calls `handler(argv, input)` for every command and returns what it
returns (a CommandResult, or an (exit status, stdout) pair for brevity); `put` stores files in
`files`; `open_stream` calls `stream_handler(argv)`, which returns any Stream, typically a
`PipeStream` whose other end a test plays.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence

from patchpilot.errors import TransportError
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.local import check_result

__all__ = ["FakeTransport", "PipeStream", "pipe_pair"]

Reply = CommandResult | tuple[int, str]
Handler = Callable[[tuple[str, ...], bytes | None], Reply | Awaitable[Reply]]
StreamHandler = Callable[[tuple[str, ...]], Stream | Awaitable[Stream]]


class PipeStream(Stream):
    """One end of an in-memory byte pipe; see pipe_pair()."""

    def __init__(self, inbox: asyncio.Queue[bytes], outbox: asyncio.Queue[bytes]) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self.closed = False

    async def read(self, n: int = 65536) -> bytes:
        if self.closed:
            return b""
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise TransportError("stream closed")
        await self._outbox.put(data)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._outbox.put(b"")
            await self._inbox.put(b"")


def pipe_pair() -> tuple[PipeStream, PipeStream]:
    """Return two connected stream ends: what one writes, the other reads."""
    a_to_b: asyncio.Queue[bytes] = asyncio.Queue()
    b_to_a: asyncio.Queue[bytes] = asyncio.Queue()
    return PipeStream(b_to_a, a_to_b), PipeStream(a_to_b, b_to_a)


class FakeTransport(Transport):
    """A transport whose every answer comes from the test's handler functions."""

    name = "fake"

    def __init__(self, handler: Handler, *, stream_handler: StreamHandler | None = None) -> None:
        self.handler = handler
        self.stream_handler = stream_handler
        self.files: dict[str, tuple[bytes, int]] = {}
        self.commands: list[tuple[str, ...]] = []
        self.is_connected = False

    async def connect(self) -> None:
        self.is_connected = True

    async def close(self) -> None:
        self.is_connected = False

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> CommandResult:
        args = tuple(argv)
        self.commands.append(args)
        reply = self.handler(args, input)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, tuple):
            reply = CommandResult(args, reply[0], reply[1], "", 0.0)
        return check_result(reply) if check else reply

    async def put(self, data: bytes, path: str, *, mode: int = 0o600) -> None:
        self.files[path] = (data, mode)

    async def open_stream(self, argv: Sequence[str]) -> Stream:
        if self.stream_handler is None:
            raise TransportError("FakeTransport has no stream_handler")
        stream = self.stream_handler(tuple(argv))
        if inspect.isawaitable(stream):
            stream = await stream
        return stream
