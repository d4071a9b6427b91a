"""Follow a round's journal through `patchpilot-client attach`: authenticate, read, re-attach.

The connector proves it knows the run secret and checks the client's proof in return (an
impostor endpoint is refused). Records are read from the first one not stored yet, so a
dropped stream is re-attached with back-off and continues where it stopped: nothing is lost
or delivered twice. The final `round.result` record is acknowledged, which lets the client
finish (and reboot). A round's journal is bounded (records and bytes, counting what the store
already holds): past it the round fails with OutputLimitError, so a client that floods its
journal cannot fill the connector's memory or disk. See docs/protocol.md, "Session".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from patchpilot.connector.backoff import Backoff
from patchpilot.connector.secret import Secret
from patchpilot.connector.targets.base import ClientSite, TargetOS
from patchpilot.errors import (
    ClientFailedError,
    ClientProtocolError,
    ConnectError,
    OutputLimitError,
    TransportError,
)
from patchpilot.launchers.base import Launcher, TaskHandle
from patchpilot.protocol import (
    PROTOCOL_VERSION,
    RELEASE,
    FrameDecoder,
    FrameError,
    client_proof,
    connector_proof,
    encode_frame,
    new_nonce,
    proofs_match,
)
from patchpilot.protocol.parts import MAX_PARTS, PART_SUFFIX
from patchpilot.transports.base import Stream, Transport

__all__ = [
    "MAX_ROUND_BYTES",
    "MAX_ROUND_RECORDS",
    "AttachTarget",
    "JournalFollower",
    "StreamTuning",
]

FINAL_EVENT = "round.result"
# A client keeps its journal under 8 MiB (essential records may pass it); far beyond that is
# a broken or hostile target. 250 records of 1 MiB used to make a 242 MB state dir.
MAX_ROUND_RECORDS = 200_000
MAX_ROUND_BYTES = 64 * 1024 * 1024
Record = Mapping[str, Any]
ClientCheck = Callable[[], Awaitable[str | None]]
RebootDecision = Callable[[int], Awaitable[bool]]  # round -> may the client reboot now


@dataclass(frozen=True)
class AttachTarget:
    """Which round's endpoint to reach, with which client, secret and launcher (Windows)."""

    client: str
    run_id: str
    round: int
    secret: Secret
    launcher: Launcher
    os: TargetOS
    task: TaskHandle | None = None  # the round's task, when known (Windows asks its state)


@dataclass(frozen=True)
class StreamTuning:
    """Seconds: silence that counts as a drop, re-attach back-off, how long to keep trying."""

    idle_timeout: float = 20.0
    auth_timeout: float = 15.0
    after_ack_timeout: float = 10.0
    first_backoff: float = 0.5
    max_backoff: float = 5.0
    reattach_timeout: float = 600.0
    max_round_records: int = MAX_ROUND_RECORDS  # a round's journal, stored records included
    max_round_bytes: int = MAX_ROUND_BYTES


class _Dropped(Exception):
    """The session ended early (EOF, silence, gap); re-attach."""


class FrameReader:
    """Read whole protocol messages from a stream."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._decoder = FrameDecoder()
        self._ready: deque[dict[str, Any]] = deque()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """Return the next message, None at end of stream; raise TimeoutError on silence."""
        while not self._ready:
            async with asyncio.timeout(timeout):  # not wait_for: no task per frame
                data = await self._stream.read()
            if not data:
                return None
            self._ready.extend(self._decoder.feed(data))
        return self._ready.popleft()


class JournalFollower:
    """Follow one round's journal until its final record; see the module docstring."""

    def __init__(
        self,
        transport: Transport,
        target: AttachTarget,
        *,
        last_seq: int,
        on_record: Callable[[Record], None],
        check_client: ClientCheck,
        final_seq: int | None = None,
        tuning: StreamTuning | None = None,
        before_ack: Callable[[], Awaitable[None]] | None = None,
        stored: tuple[int, int] = (0, 0),
        decide_reboot: RebootDecision | None = None,
    ) -> None:
        """stored: the records and bytes of this round's journal the store holds already."""
        self.transport = transport
        self.target = target
        self.last_seq = last_seq
        self.final_seq = final_seq
        self.on_record = on_record
        self.check_client = check_client
        self.tuning = tuning or StreamTuning()
        self.before_ack = before_ack  # e.g. the store's flush: the final record is kept first
        self.attaches = 0
        self.records, self.bytes = stored
        self.parts: dict[str, int] = {}  # parts received of each split record still to come
        self.decide_reboot = decide_reboot
        self.may_reboot: bool | None = None  # decided once, before the final record's ack

    async def follow(self) -> Record:
        """Return the final record; raise ClientFailedError if the client ended without one."""
        t = self.tuning
        delays = Backoff(first=t.first_backoff, factor=2.0, cap=t.max_backoff).delays()
        lost_since = time.monotonic()
        while True:
            try:
                final = await self._session()
                if final is not None:
                    return final
            except (_Dropped, TransportError, FrameError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
            else:
                reason = "the stream ended before the final record"
                lost_since = time.monotonic()
            failure = await self._check_client()
            if failure:
                raise ClientFailedError(failure)
            if time.monotonic() - lost_since > self.tuning.reattach_timeout:
                raise ConnectError(f"lost the client's stream for good: {reason}")
            await asyncio.sleep(next(delays))

    async def _check_client(self) -> str | None:
        try:
            return await self.check_client()
        except TransportError:
            return None

    async def _session(self) -> Record | None:
        t = self.target
        site = ClientSite(self.transport, t.launcher, t.client, t.run_id)
        opening = t.os.open_log(site, t.round, t.task, secret=t.secret.reveal())
        stream = await asyncio.wait_for(opening, 30)
        self.attaches += 1
        try:
            reader = FrameReader(stream)
            await self._handshake(reader, stream)
            first = self.last_seq + 1 if self.final_seq is None else self.final_seq
            await stream.write(encode_frame({"t": "read", "from": min(first, self.last_seq + 1)}))
            return await self._read_records(reader, stream)
        finally:
            await stream.close()

    async def _handshake(self, reader: FrameReader, stream: Stream) -> None:
        t, timeout = self.target, self.tuning.auth_timeout
        hello = _expect(await reader.next(timeout), "hello")
        if hello.get("run") != t.run_id or hello.get("round") != t.round:
            raise ClientProtocolError(f"endpoint serves {hello.get('run')}/{hello.get('round')}")
        s_nonce, c_nonce = str(hello.get("nonce", "")), new_nonce()
        proof = connector_proof(t.secret.reveal(), t.run_id, t.round, s_nonce, c_nonce)
        auth = {
            "t": "auth",
            "v": PROTOCOL_VERSION,
            "rel": RELEASE,
            "nonce": c_nonce,
            "proof": proof,
        }
        await stream.write(encode_frame(auth))
        welcome = _expect(await reader.next(timeout), "welcome")
        expected = client_proof(t.secret.reveal(), t.run_id, t.round, s_nonce, c_nonce)
        if not proofs_match(expected, welcome.get("proof")):
            raise ClientProtocolError("the client's endpoint failed to prove the run secret")

    async def _read_records(self, reader: FrameReader, stream: Stream) -> Record | None:
        final: Record | None = None
        while True:
            wait = self.tuning.idle_timeout if final is None else self.tuning.after_ack_timeout
            try:
                message = await reader.next(wait)
            except TimeoutError:
                if final is not None:
                    return final
                raise _Dropped(f"no frame for {wait:g} s") from None
            if message is None or message["t"] == "bye":
                return final
            if message["t"] == "error":
                _raise_if_fatal(message)
                return final
            if message["t"] == "rec" and self._accept(message.get("r")) and final is None:
                final = message["r"]
                if self.before_ack is not None:
                    await self.before_ack()
                ack = {"t": "ack", "seq": final["seq"]}
                if not await self._may_reboot(final):
                    ack["reboot"] = False  # the client then skips its reboot
                await stream.write(encode_frame(ack))

    async def _may_reboot(self, final: Record) -> bool:
        """Decide (once) whether the client may reboot: pre-reboot hooks, the window."""
        if self.decide_reboot is None or final.get("fields", {}).get("will_reboot") is not True:
            return True
        if self.may_reboot is None:
            self.may_reboot = await self.decide_reboot(int(self.target.round))
        return self.may_reboot

    def _accept(self, record: Any) -> bool:
        """Deliver record once, in order; return True if it is the final record."""
        if not _is_record(record):
            raise ClientProtocolError(f"malformed journal record: {str(record)[:200]}")
        seq = record["seq"]
        if seq > self.last_seq + 1:
            raise _Dropped(f"gap in the journal: got {seq} after {self.last_seq}")
        if seq == self.last_seq + 1:
            self._count(record)
            self.last_seq = seq
            self.on_record(record)
        is_final = bool(record.get("event") == FINAL_EVENT)
        if is_final:
            self.final_seq = seq
        return is_final

    def _count(self, record: Record) -> None:
        """Count a new record against the round's bounds; raise OutputLimitError past them,
        ClientProtocolError for a record in more than MAX_PARTS parts."""
        self._count_part(str(record.get("event", "")), record["seq"])
        self.records += 1
        self.bytes += len(json.dumps(record))
        t = self.tuning
        if self.records > t.max_round_records:
            bound = f"{t.max_round_records:,} records"
        elif self.bytes > t.max_round_bytes:
            bound = f"{t.max_round_bytes:,} bytes"
        else:
            return
        raise OutputLimitError(
            f"round {self.target.round}: the client's journal passed {bound} (at record "
            f"{record['seq']}): refused, a broken or hostile target; the client may still be "
            "working on the server"
        )

    def _count_part(self, event: str, seq: int) -> None:
        if not event.endswith(PART_SUFFIX):
            self.parts.pop(event + PART_SUFFIX, None)
            return
        self.parts[event] = count = self.parts.get(event, 0) + 1
        if count > MAX_PARTS:
            raise ClientProtocolError(
                f"round {self.target.round}: a {event[: -len(PART_SUFFIX)]!r} record in more "
                f"than {MAX_PARTS:,} parts (at record {seq}): a broken or hostile client"
            )


def _is_record(record: Any) -> bool:
    """Tell whether record has the shape every reader relies on: an integer seq, a string
    event, an object of fields (or none), ts and level strings (or none)."""
    return bool(
        isinstance(record, Mapping)
        and type(record.get("seq")) is int
        and isinstance(record.get("event"), str)
        and isinstance(record.get("fields", {}), Mapping)
        and all(isinstance(record.get(k, ""), str) for k in ("ts", "level"))
    )


def _expect(message: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    if message is None:
        raise _Dropped(f"the stream ended before '{kind}'")
    if message["t"] == "error":
        _raise_if_fatal(message)
        raise _Dropped(f"endpoint error before '{kind}': {message.get('msg')}")
    if message["t"] != kind:
        raise ClientProtocolError(f"expected '{kind}' from the client, got '{message['t']}'")
    if kind == "hello" and message.get("v") != PROTOCOL_VERSION:
        client = message.get("rel", "of an unknown release")
        raise ClientProtocolError(
            f"incompatible versions: the client on the target (patchpilot {client}) speaks "
            f"protocol {message.get('v')!r}, this connector (patchpilot {RELEASE}) protocol "
            f"{PROTOCOL_VERSION}; finish the run with the release that started it, or cancel it "
            "and start it again with this one"
        )
    return message


def _raise_if_fatal(message: Mapping[str, Any]) -> None:
    if message.get("code") in ("auth", "version"):
        raise ClientProtocolError(
            f"the client refused the session ({message.get('code')}): {message.get('msg')}"
        )
