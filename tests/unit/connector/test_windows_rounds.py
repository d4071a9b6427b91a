"""The connector's round loop with the Windows pieces, against a scripted Windows target.

Task Scheduler, CIM boot time, CBS readiness and ProgramData files are answered from the
PowerShell the connector sends; the client's journal is scripted as the WUA backend writes
it (KB ids, WUA result codes). The client side of the same scenario runs against the WUA fake
in tests/unit/client/test_wua_round.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector_fakes import FakeClient, FakeEndpoint, final, record

from patchpilot.connector.events import Event, utc_now
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.report import build_result
from patchpilot.connector.rounds import RoundContext, run_rounds
from patchpilot.connector.runner import make_transport, run_target
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store
from patchpilot.connector.target import TargetSpec
from patchpilot.connector.targetos import WindowsOS
from patchpilot.connector.windows_target import pushed_path
from patchpilot.launchers.schtasks import SchtasksLauncher
from patchpilot.transports.base import Stream
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.powershell import split_literals
from patchpilot.transports.psrp import PSRPTransport
from patchpilot.transports.winssh import WindowsSSHTransport

PYTHON = "\\\\files\\patchpilot\\python\\python.exe"
CLIENT = "\\\\files\\patchpilot\\patchpilot-client.pyz"


def ssu_then_cumulative() -> dict[int, list[dict[str, Any]]]:
    ssu = {"id": "KB5031364", "status": "installed", "version": "5a1b-1", "code": "Succeeded"}
    lcu = {"id": "KB5031361", "status": "installed", "version": "5a1b-2", "code": "Succeeded"}
    return {
        1: [
            record(1, "run.started", backend="wua"),
            record(2, "wua.search.started", criteria="IsInstalled=0 and IsHidden=0"),
            record(3, "plan.selected", selected=["KB5031364"], plan={"KB5031364": "5a1b-1"}),
            record(4, "update.result", **ssu),
            final(5, will_reboot=True, results=[ssu]),
        ],
        2: [
            record(1, "run.started", backend="wua"),
            record(2, "update.result", **lcu),
            final(3, will_reboot=True, results=[lcu]),
        ],
        3: [record(1, "run.started", backend="wua"), final(2, status="nothing", results=[])],
    }


@dataclass
class WindowsTarget:
    run_id: str
    rounds: dict[int, list[dict[str, Any]]]
    python: str = PYTHON
    client: str = CLIENT
    boot: str = "2026-11-25T01:00:00Z"
    tasks: dict[str, int] = field(default_factory=dict)  # task name -> round
    removed: list[str] = field(default_factory=list)
    locks: list[str] = field(default_factory=list)
    transport: FakeTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = FakeTransport(self.handle, stream_handler=self.open_stream)

    def handle(self, argv: tuple[str, ...], _: bytes | None) -> tuple[int, str]:
        if argv[2] == "scan":  # later rounds extend the frozen plan
            offered = (
                []
                if 2 in self.tasks.values()
                else [{"id": "KB5031361", "candidate_version": "5a1b-2"}]
            )
            return 0, json.dumps(offered)
        if argv[2] in ("lock", "unlock"):
            self.locks.append(argv[2])
            return 0, ""
        assert argv[0] == "powershell.exe", argv
        script = base64.b64decode(argv[-1]).decode("utf-16-le")
        literals = split_literals(script)[1]
        if "Get-Command Register-ScheduledTask" in script:
            return 0, '{"ok":true}'
        if "Get-FileHash" in script:
            data = self.transport.files.get(literals[1])
            digest = json.dumps(hashlib.sha256(data[0]).hexdigest()) if data else "null"
            return 0, f'{{"sha256":{digest}}}'
        if "Win32_OperatingSystem" in script:
            return 0, json.dumps({"boot": self.boot})
        if "Component Based Servicing" in script:
            return 0, '{"logonui":true,"desktop":false,"servicing":0,"tiworker":false}'
        if "Register-ScheduledTask -TaskName" in script:
            assert literals[3] == self.python and self.client in literals[4]
            self.tasks[literals[1]] = int(literals[4].split("round-")[1].split("\\")[0])
            return 0, '{"registered":true}'
        if "Get-ScheduledTaskInfo" in script:
            return 0, '{"exists":true,"state":"Ready","last_result":0}'
        if "Unregister-ScheduledTask" in script:
            self.removed.append(literals[1])
            return 0, '{"removed":true}'
        if "ReadAllText" in script:
            round_no = int(literals[1].split("round-")[1].split("\\")[0])
            done = json.dumps({"phase": "done", "exit_status": 0})
            return 0, json.dumps({"text": done if round_no in self.tasks.values() else None})
        raise AssertionError(f"unexpected script: {script[:200]}")

    def open_stream(self, argv: tuple[str, ...]) -> Stream:
        assert argv[:3] == (self.python, self.client, "attach")
        round_no = int(argv[argv.index("--round") + 1])
        job = WindowsOS().round_file(self.run_id, round_no, "job.json")
        secret = json.loads(self.transport.files[job][0])["secret"]
        records = self.rounds[round_no]
        endpoint = FakeEndpoint(self.run_id, round_no, records, secret=secret)

        def reboot_on_ack(seq: int) -> None:
            if records[-1]["fields"]["will_reboot"]:
                self.boot = f"2026-11-25T0{round_no + 1}:00:00Z"

        endpoint.on_ack = reboot_on_ack
        return endpoint.stream_handler()(argv)


async def test_windows_rounds_reboot_verified_by_boot_time(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    options = RunOptions(run_id="w1", stability_window=0, exit_codes="wsus", os="windows")
    secret = Secret.generate()
    row = RunRow("w1", "srv1", options.mode, options.model_dump_json(), secret, "running",
                 None, utc_now(), None, None)  # fmt: skip
    store.create_run(row)
    target = WindowsTarget("w1", ssu_then_cumulative())
    events: list[Event] = []
    ctx = RoundContext(
        transport=target.transport,
        launcher=SchtasksLauncher(),
        probe=WindowsOS().probe(),
        store=store,
        options=options,
        run_id="w1",
        target="srv1",
        secret=secret,
        client=CLIENT,
        emit=events.append,
        os=WindowsOS(python=PYTHON),
    )
    reports = await run_rounds(ctx, None)
    assert len(reports) == 3
    assert sorted(target.tasks.values()) == [1, 2, 3]
    assert sorted(target.removed) == sorted(target.tasks)  # every task unregistered
    result = build_result(store, row, options, warnings=[], failure=None, error=None, phase=None)
    assert result.outcome is Outcome.SUCCESS
    assert sorted(u["id"] for u in result.updates) == ["KB5031361", "KB5031364"]
    assert [r.boot_id_after for r in result.reboots] == [
        "2026-11-25T02:00:00Z",
        "2026-11-25T03:00:00Z",
    ]
    assert result.exit_code == 110  # WSUS table: installed, rebooted
    job = json.loads(target.transport.files[WindowsOS().round_file("w1", 1, "job.json")][0])
    assert job["action"] == "install" and job["selection"]["plan"] is None
    assert job["windows"] == {
        "service": "default",
        "drivers": False,
        "optional": False,
        "classifications": [],
    }


async def test_run_target_on_windows_by_options_alone(tmp_path: Path) -> None:
    client = FakeClient.make(tmp_path)
    target = WindowsTarget("w2", ssu_then_cumulative(), python="C:\\Python312\\python.exe",
                           client=pushed_path(client.sha256))  # fmt: skip
    options = RunOptions(
        run_id="w2", stability_window=0, exit_codes="wsus", os="windows",
        python="C:\\Python312\\python.exe",
    )  # fmt: skip
    result = await run_target(
        TargetSpec("srv2", "srv2"),
        options,
        store=Store.open(tmp_path / "state"),
        on_event=lambda event: None,
        transport=target.transport,
        client=client,
    )
    assert result.outcome is Outcome.SUCCESS and result.exit_code == 110
    assert target.transport.files[pushed_path(client.sha256)][0] == b"fake client"
    assert target.locks == ["lock", "unlock"]


def test_windows_transport_by_configuration() -> None:
    base = {"run_id": "w3", "os": "windows"}
    psrp = make_transport(TargetSpec("srv", "srv"), RunOptions(**base, transport="psrp"))
    assert isinstance(psrp, PSRPTransport)
    assert isinstance(
        make_transport(TargetSpec("srv", "srv"), RunOptions(**base)), WindowsSSHTransport
    )
    inventory_psrp = TargetSpec("srv", "srv", transport="psrp")
    assert isinstance(make_transport(inventory_psrp, RunOptions(**base)), PSRPTransport)
