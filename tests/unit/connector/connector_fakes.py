"""Test doubles for the connector: a client endpoint speaking docs/protocol.md, and a target.

`FakeEndpoint` serves a round's journal over an in-memory pipe, as `patchpilot-client attach`
does; `FakeTarget` answers the commands the connector runs (boot id, systemd-run, state.json,
sha256sum, lock) and "reboots" (new boot id) once a final record asking for it is acked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchpilot.connector.targets.interpreter import PROBE
from patchpilot.protocol import (
    FrameDecoder,
    client_proof,
    connector_proof,
    encode_frame,
    new_nonce,
    proofs_match,
)
from patchpilot.transports.base import CommandResult, Stream
from patchpilot.transports.fake import FakeTransport, PipeStream, pipe_pair

SECRET = "ab" * 32


def record(seq: int, event: str, level: str = "info", **fields: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": f"2026-11-25T02:00:{seq:02d}.000Z",
        "level": level,
        "event": event,
        "fields": fields,
    }


def final(
    seq: int,
    *,
    results: list[dict[str, Any]],
    will_reboot: bool = False,
    status: str = "success",
    updates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return record(
        seq,
        "round.result",
        status=status,
        action="install",
        updates=updates or [],
        results=results,
        reboot_required=will_reboot,
        reboot_reasons=[],
        will_reboot=will_reboot,
        exit_status=0,
    )


class _Inbox:
    """Messages from the connector, in order (several frames may come in one read)."""

    def __init__(self, stream: PipeStream) -> None:
        self._stream = stream
        self._decoder = FrameDecoder()
        self._pending: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any] | None:
        while not self._pending:
            data = await self._stream.read()
            if not data:
                return None
            self._pending += self._decoder.feed(data)
        return self._pending.pop(0)


@dataclass
class FakeEndpoint:
    """One round's endpoint: serves records from `read`, waits for the ack, says bye."""

    run_id: str
    round_no: int
    records: list[dict[str, Any]]
    secret: str = SECRET
    drop_after: int | None = None  # close after sending this many records (once)
    is_impostor: bool = False
    hang_after: int | None = None  # stop sending (but keep the stream) after this many
    acks: list[int] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)
    on_ack: Callable[[int], None] | None = None
    welcome_proof: str | None = None  # sent instead of the right proof (an impostor's)
    hello_extra: dict[str, Any] = field(default_factory=dict)  # e.g. another release's version

    async def serve(self, stream: PipeStream) -> None:
        inbox = _Inbox(stream)
        s_nonce = new_nonce()
        await stream.write(
            encode_frame(
                {"t": "hello", "v": 1, "run": self.run_id, "round": self.round_no, "nonce": s_nonce}
                | self.hello_extra
            )
        )
        auth = await inbox.next()
        assert auth is not None and auth["t"] == "auth"
        expected = connector_proof(self.secret, self.run_id, self.round_no, s_nonce, auth["nonce"])
        if not proofs_match(expected, auth["proof"]):
            await stream.write(encode_frame({"t": "error", "code": "auth", "msg": "bad proof"}))
            await stream.close()
            return
        secret = "00" * 32 if self.is_impostor else self.secret
        proof = client_proof(secret, self.run_id, self.round_no, s_nonce, auth["nonce"])
        proof = proof if self.welcome_proof is None else self.welcome_proof
        await stream.write(encode_frame({"t": "welcome", "proof": proof}))
        read = await inbox.next()
        assert read is not None and read["t"] == "read"
        self.reads.append(read["from"])
        await self._send_records(stream, inbox, read["from"])

    async def _send_records(self, stream: PipeStream, inbox: _Inbox, first: int) -> None:
        sent = 0
        for rec in self.records:
            if rec["seq"] < first:
                continue
            if self.drop_after is not None and sent >= self.drop_after:
                self.drop_after = None
                await stream.close()
                return
            await stream.write(encode_frame({"t": "rec", "r": rec}))
            sent += 1
            if sent == self.hang_after:
                await asyncio.sleep(3600)
            if rec["event"] == "round.result":
                ack = await inbox.next()
                if ack is None:
                    return
                self.acks.append(ack["seq"])
                if self.on_ack:
                    self.on_ack(ack["seq"])
        await stream.write(encode_frame({"t": "bye", "complete": True}))
        await stream.close()

    def stream_handler(self) -> Callable[[tuple[str, ...]], Stream]:
        tasks: list[asyncio.Task[None]] = []

        def handler(argv: tuple[str, ...]) -> Stream:
            ours, theirs = pipe_pair()
            tasks.append(asyncio.ensure_future(self.serve(theirs)))
            return ours

        return handler


@dataclass
class FakeClient:
    path: Path
    sha256: str

    @classmethod
    def make(cls, tmp: Path) -> FakeClient:
        path = tmp / "client.pyz"
        path.write_bytes(b"fake client")
        return cls(path, hashlib.sha256(b"fake client").hexdigest())


@dataclass
class FakeTarget:
    """A target whose rounds are scripted: rounds[N] is round N's journal records."""

    run_id: str
    rounds: dict[int, list[dict[str, Any]]]
    boot_id: str = "boot-1"
    launched: list[int] = field(default_factory=list)
    scan: list[dict[str, Any]] = field(default_factory=list)
    installed: dict[str, str] = field(default_factory=dict)  # what the package database holds
    endpoints: dict[int, FakeEndpoint] = field(default_factory=dict)
    is_held: bool = False
    hang_after: int | None = None
    transport: FakeTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = FakeTransport(self.handle, stream_handler=self.open_stream)

    def _reboot_on_ack(self, round_no: int) -> Callable[[int], None]:
        def on_ack(seq: int) -> None:
            if any(
                r["event"] == "round.result" and r["fields"]["will_reboot"]
                for r in self.rounds[round_no]
            ):
                self.boot_id = f"boot-{round_no + 1}"

        return on_ack

    def open_stream(self, argv: tuple[str, ...]) -> Stream:
        round_no = int(argv[argv.index("--round") + 1])
        job = self.transport.files[
            f"/var/lib/patchpilot/runs/{self.run_id}/round-{round_no}/job.json"
        ]
        endpoint = self.endpoints.setdefault(
            round_no,
            FakeEndpoint(
                self.run_id,
                round_no,
                self.rounds[round_no],
                secret=json.loads(job[0])["secret"],
                on_ack=self._reboot_on_ack(round_no),
                hang_after=self.hang_after,
            ),
        )
        return endpoint.stream_handler()(argv)

    def handle(self, argv: tuple[str, ...], stdin: bytes | None) -> CommandResult | tuple[int, str]:
        if argv == ("cat", "/proc/sys/kernel/random/boot_id"):
            return 0, self.boot_id + "\n"
        if argv == ("cat", "/proc/1/comm"):
            return 0, "systemd\n"
        if argv[:3] == ("sh", "-c", PROBE):  # the interpreter: the first candidate is 3.11
            return 0, f"{argv[5]} 3.11.2\n"
        if argv[0] == "sha256sum":
            data = self.transport.files.get(argv[1])
            return (0, hashlib.sha256(data[0]).hexdigest() + "  x\n") if data else (1, "")
        if argv[0] == "systemd-run" and argv[1] != "--version":
            self.launched.append(int(argv[argv.index("--job") + 1].split("round-")[1][0]))
            return 0, ""
        if argv[0] == "cat" and argv[1].endswith("state.json"):
            round_no = int(argv[1].split("round-")[1].split("/")[0])
            if round_no not in self.launched:
                return 1, ""
            return 0, json.dumps({"phase": "done", "exit_status": 0})
        if argv[0] == "cat" and argv[1].endswith("job.json") and argv[1] in self.transport.files:
            return 0, self.transport.files[argv[1]][0].decode()
        if "lock" in argv and self.is_held:
            return 3, json.dumps({"run": "other"})
        if "scan" in argv:
            return 0, json.dumps(self.scan)
        if "installed" in argv and "--lock-timeout" in argv:  # the versions read at the end
            asked = argv[argv.index("--") + 1 :]
            held = {i: v for i, v in self.installed.items() if i in asked}
            return 0, json.dumps({"versions": held, "lock_held": ""})
        if argv[:2] == ("systemctl", "show"):
            return 0, "LoadState=loaded\nActiveState=active\nSubState=exited\nExecMainCode=1\n"
        if argv[:2] == ("systemctl", "is-system-running"):
            return 0, "running\n"
        return 0, ""
