"""A scripted Windows target: what the connector's PowerShell sees of Task Scheduler, files,
named pipes, CIM and the client's tasks.

It answers only `powershell.exe -EncodedCommand ...`: anything else reaching the session (the
client run directly, which a WinRM session cannot do from a UNC share) fails the test. A task
registered by the connector "runs" at once: `run` makes the round's pipe live, `lock`,
`unlock` and `scan` write their `--output` answer, `attach --listen` serves the pipe once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ntpath
from dataclasses import dataclass, field
from typing import Any

from connector_fakes import FakeEndpoint

from patchpilot.connector.targets.windows import WindowsOS
from patchpilot.transports.base import Stream
from patchpilot.transports.fake import FakeTransport, pipe_pair
from patchpilot.transports.powershell import split_literals

__all__ = ["CLIENT", "PYTHON", "WindowsTarget", "decoded"]

PYTHON = "\\\\files\\patchpilot\\python\\python.exe"
CLIENT = "\\\\files\\patchpilot\\patchpilot-client.pyz"


def decoded(argv: tuple[str, ...]) -> str:
    """Return the script of a PowerShell argv; fail for anything that is not one."""
    assert argv[0] == "powershell.exe" and argv[-2] == "-EncodedCommand", argv
    return base64.b64decode(argv[-1]).decode("utf-16-le")


# What each connector script is, by a phrase only it contains; checked in this order.
_KINDS = (
    ("Copy-Item -LiteralPath $from", "copy"),  # run by a SYSTEM task, never in the session
    ("Move-Item -LiteralPath $path", "move"),
    ("Remove-Item -LiteralPath $copy", "discard"),
    ("Get-Command Register-ScheduledTask", "available"),
    ("WriteAllBytes", "write_file"),
    ("refused = $refused", "prepare_root"),
    ("Get-FileHash", "hash"),
    ("Win32_OperatingSystem", "boot"),
    ("Component Based Servicing", "readiness"),
    ("Unregister-ScheduledTask", "unregister"),
    ("Register-ScheduledTask -TaskName", "register"),
    ("Get-ScheduledTaskInfo", "task_info"),
    ("Remove-Item -LiteralPath $path", "take"),
    ("ReadAllText", "read"),
    ("GetFiles(", "pipe_live"),
    ("NamedPipeClientStream", "relay"),
)


def script_kind(script: str) -> str:
    """Return which of the connector's PowerShell scripts this is; fail for any other."""
    for phrase, kind in _KINDS:
        if phrase in script:
            return kind
    raise AssertionError(f"unexpected script: {script[:200]}")


def _round_of(path: str) -> int:
    """Return the round of a round file's path or of a pipe name (`patchpilot-<run>-<N>-<tag>`)."""
    if "round-" in path:
        return int(path.split("round-")[1].split("\\")[0])
    return int(ntpath.basename(path).rsplit("-", 2)[1])


@dataclass
class WindowsTarget:
    run_id: str
    rounds: dict[int, list[dict[str, Any]]]
    python: str = PYTHON
    client: str = CLIENT
    boot: str = "2026-11-25T01:00:00Z"
    offered_later: list[dict[str, str]] = field(default_factory=list)
    drop_after: dict[int, int] = field(default_factory=dict)  # round -> records, then drop
    tasks: dict[str, list[str]] = field(default_factory=dict)  # registered name -> argv
    removed: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=list)  # what the tasks ran, in order
    answers: dict[str, str] = field(default_factory=dict)  # --output files
    holder: str | None = None
    live: set[int] = field(default_factory=set)  # rounds whose client serves its pipe
    listening: set[int] = field(default_factory=set)  # rounds served by `attach --listen`
    started: set[int] = field(default_factory=set)
    endpoints: dict[int, FakeEndpoint] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)  # tasks whose process has not ended
    transport: FakeTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = FakeTransport(self.handle, stream_handler=self.open_stream)

    def handle(self, argv: tuple[str, ...], _: bytes | None) -> tuple[int, str]:
        script = decoded(argv)
        literals = split_literals(script)[1]
        kind = script_kind(script)
        if kind == "available":
            return 0, '{"ok":true}'
        if kind == "prepare_root":
            return 0, '{"refused":null}'
        if kind == "hash":
            data = self.transport.files.get(literals[1])
            digest = json.dumps(hashlib.sha256(data[0]).hexdigest()) if data else "null"
            return 0, f'{{"sha256":{digest}}}'
        if kind == "boot":
            return 0, json.dumps({"boot": self.boot})
        if kind == "readiness":
            return 0, '{"logonui":true,"desktop":false,"servicing":0,"tiworker":false}'
        if kind == "register":
            command = [literals[3], *literals[4].split()]
            self.tasks[literals[1]] = command
            self._run_task(command)
            return 0, '{"registered":true}'
        if kind == "task_info":
            if literals[1] in self.running:
                return 0, '{"exists":true,"state":"Running","last_result":267009}'
            if literals[1] not in self.tasks:
                return 0, '{"exists":false}'
            return 0, '{"exists":true,"state":"Ready","last_result":0}'
        if kind == "unregister":
            self.removed.append(literals[1])
            self.tasks.pop(literals[1], None)
            return 0, '{"removed":true}'
        if kind == "take":
            return 0, json.dumps({"text": self.answers.pop(literals[1], None)})
        if kind == "read":
            done = json.dumps({"phase": "done", "exit_status": 0})
            is_done = _round_of(literals[1]) in self.started
            return 0, json.dumps({"text": done if is_done else None})
        assert kind == "pipe_live", kind
        return 0, json.dumps({"live": _round_of(literals[1]) in self.live})

    def _run_task(self, command: list[str]) -> None:
        assert command[:4] == [self.python, "-I", "-S", self.client], command
        verb = command[4]
        self.verbs.append(verb)
        if verb == "run":
            round_no = _round_of(command[command.index("--job") + 1])
            self.started.add(round_no)
            self.live.add(round_no)
            return
        if verb == "attach":
            assert "--listen" in command
            self.listening.add(int(command[command.index("--round") + 1]))
            return
        exit_status, stdout = 0, ""
        if verb == "lock":
            run = command[command.index("--run") + 1]
            if self.holder not in (None, run):
                exit_status, stdout = 3, json.dumps({"run": self.holder})
            else:
                self.holder = run
        elif verb == "unlock":
            self.holder = None
        elif verb == "scan":
            stdout = json.dumps([] if 2 in self.started else self.offered_later)
        out = command[command.index("--output") + 1]
        self.answers[out] = json.dumps({"exit": exit_status, "stdout": stdout, "stderr": ""})

    async def open_stream(self, argv: tuple[str, ...]) -> Stream:
        script = decoded(argv)
        assert script_kind(script) == "relay"
        round_no = _round_of(split_literals(script)[1][1])
        if round_no in self.listening:
            self.listening.discard(round_no)  # `attach --listen` serves one connection
        elif round_no not in self.live:
            ours, theirs = pipe_pair()  # the relay found no pipe: it exits, EOF at once
            await theirs.close()
            return ours
        return self._endpoint(round_no).stream_handler()(argv)

    def _endpoint(self, round_no: int) -> FakeEndpoint:
        if round_no not in self.endpoints:
            job = WindowsOS().round_file(self.run_id, round_no, "job.json")
            secret = json.loads(self.transport.files[job][0])["secret"]
            records = self.rounds[round_no]
            endpoint = FakeEndpoint(self.run_id, round_no, records, secret=secret)
            endpoint.drop_after = self.drop_after.get(round_no)

            def finish_on_ack(seq: int) -> None:
                self.live.discard(round_no)  # the client ends (and reboots) after the ack
                if records[-1]["fields"]["will_reboot"]:
                    self.boot = f"2026-11-25T0{round_no + 1}:00:00Z"

            endpoint.on_ack = finish_on_ack
            self.endpoints[round_no] = endpoint
        return self.endpoints[round_no]
