"""A hostile target for the fuzz test: a client endpoint on a real Unix socket that speaks
the real protocol (length-prefixed frames, both HMAC proofs over the run's secret) and then
sends whatever it was given, as a target's root could: any JSON at all, frames nesting deeper
than any encoder writes, floods of parts, final records that contradict earlier ones.

`HostileTarget` is connector_fakes' scripted target whose log stream is that socket (one
listening socket per round), whose every round serves the same records, and whose client
always reports having exited with status 1, so a round without a final record ends as it
would on a server instead of being awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector_fakes import FakeTarget

from patchpilot.protocol import (
    PROTOCOL_VERSION,
    FrameDecoder,
    FrameError,
    client_proof,
    connector_proof,
    new_nonce,
    proofs_match,
)
from patchpilot.transports.base import CommandResult, Stream

__all__ = ["HostileTarget", "PartFlood", "Raw"]

_HEADER = struct.Struct(">I")
_ACK_WAIT = 0.5  # seconds a final record waits for its ack (only the first one gets one)


@dataclass(frozen=True)
class Raw:
    """A frame body sent as is: e.g. nesting json.dumps would refuse to write."""

    body: str


@dataclass(frozen=True)
class PartFlood:
    """count `<event>.part` records from seq first, made as they are sent (200,000 fit)."""

    first: int
    count: int
    event: str = "scan.done"


def _frame(message: Any) -> bytes:
    """Return a frame of any JSON value; lone surrogates go out escaped, as a peer may send."""
    return _raw(json.dumps(message, separators=(",", ":")))


def _raw(body: str) -> bytes:
    data = body.encode("ascii", "backslashreplace")
    return _HEADER.pack(len(data)) + data


def _frames(sent: Iterable[Any]) -> Iterator[tuple[bytes, bool]]:
    """Yield each frame to send and whether it carries a final record (then wait for an ack)."""
    for item in sent:
        if isinstance(item, Raw):
            yield _raw(item.body), False
        elif isinstance(item, PartFlood):
            for seq in range(item.first, item.first + item.count):
                part = {"seq": seq, "event": f"{item.event}.part", "fields": {"updates": [seq]}}
                yield _frame({"t": "rec", "r": part}), False
        else:
            is_final = isinstance(item, dict) and item.get("event") == "round.result"
            yield _frame({"t": "rec", "r": item}), is_final


class _Inbox:
    """Messages from the connector, in order."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._decoder = FrameDecoder()
        self._pending: list[dict[str, Any]] = []

    async def next(self, timeout: float) -> dict[str, Any] | None:
        while not self._pending:
            data = await asyncio.wait_for(self._reader.read(65536), timeout)
            if not data:
                return None
            self._pending += self._decoder.feed(data)
        return self._pending.pop(0)


@dataclass
class _Round:
    """One round's listening socket and what it serves."""

    path: Path
    run_id: str
    round_no: int
    secret: str
    sent: list[Any]
    sessions: int = 0
    server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        try:
            await self._session(_Inbox(reader), writer)
        except (OSError, FrameError, TimeoutError):
            pass  # the connector hung up: all a hostile client gets
        finally:
            writer.close()

    async def _session(self, inbox: _Inbox, writer: asyncio.StreamWriter) -> None:
        s_nonce = new_nonce()
        hello = {"t": "hello", "v": PROTOCOL_VERSION, "run": self.run_id,
                 "round": self.round_no, "nonce": s_nonce}  # fmt: skip
        writer.write(_frame(hello))
        auth = await inbox.next(5.0)
        if auth is None or auth.get("t") != "auth":
            return
        c_nonce = str(auth.get("nonce"))
        expected = connector_proof(self.secret, self.run_id, self.round_no, s_nonce, c_nonce)
        if not proofs_match(expected, auth.get("proof")):
            writer.write(_frame({"t": "error", "code": "auth", "msg": "bad proof"}))
            return
        proof = client_proof(self.secret, self.run_id, self.round_no, s_nonce, c_nonce)
        writer.write(_frame({"t": "welcome", "proof": proof}))
        if await inbox.next(5.0) is None:  # its `read`; a hostile client ignores `from`
            return
        for data, is_final in _frames(self.sent):
            writer.write(data)
            await writer.drain()
            if is_final:
                with contextlib.suppress(TimeoutError):
                    await inbox.next(_ACK_WAIT)
        writer.write(_frame({"t": "bye", "complete": True}))
        await writer.drain()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class _SocketStream(Stream):
    """The connector's end: connects to its round's socket on first use."""

    def __init__(self, round_: _Round) -> None:
        self._round = round_
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            await self._round.start()
            self._reader, self._writer = await asyncio.open_unix_connection(self._round.path)
        return self._reader, self._writer

    async def read(self, n: int = 65536) -> bytes:
        reader, _ = await self._open()
        return await reader.read(n)

    async def write(self, data: bytes) -> None:
        _, writer = await self._open()
        writer.write(data)
        await writer.drain()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


@dataclass
class HostileTarget(FakeTarget):
    """A target whose every round serves `sent` from a real socket under `folder`."""

    folder: Path = Path("/nonexistent")
    sent: list[Any] = field(default_factory=list)
    sockets: dict[int, _Round] = field(default_factory=dict)

    def open_stream(self, argv: tuple[str, ...]) -> Stream:
        round_no = int(argv[argv.index("--round") + 1])
        if round_no not in self.sockets:
            job = self.transport.files[
                f"/var/lib/patchpilot/runs/{self.run_id}/round-{round_no}/job.json"
            ]
            secret = json.loads(job[0])["secret"]
            path = self.folder / f"round-{round_no}.sock"
            self.sockets[round_no] = _Round(path, self.run_id, round_no, secret, self.sent)
        return _SocketStream(self.sockets[round_no])

    def handle(self, argv: tuple[str, ...], stdin: bytes | None) -> CommandResult | tuple[int, str]:
        if argv[0] == "cat" and argv[1].endswith("state.json"):
            round_no = int(argv[1].split("round-")[1].split("/")[0])
            if round_no not in self.launched:
                return 1, ""
            return 0, json.dumps({"phase": "failed", "exit_status": 1})
        return super().handle(argv, stdin)

    async def close(self) -> None:
        for round_ in self.sockets.values():
            await round_.close()
