"""The connector's round loop with the Windows pieces, against a scripted Windows target.

Task Scheduler, CIM boot time, CBS readiness, ProgramData files and the named pipe are
answered from the PowerShell the connector sends (windows_fakes.py); the client's journal is
scripted as the WUA backend writes it (KB ids, WUA result codes). The client side of the same
scenario runs against the WUA fake in tests/unit/client/test_wua_round.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connector_fakes import FakeClient, final, record
from windows_fakes import CLIENT, PYTHON, WindowsTarget

from patchpilot.connector.events import Event, utc_now
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.round_loop import launch, run_rounds
from patchpilot.connector.run.runner import make_transport, run_target
from patchpilot.connector.run.summary import build_result
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, RunRow, open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets.windows import WindowsOS
from patchpilot.connector.targets.windows.layout import pushed_path
from patchpilot.launchers.schtasks import SchtasksLauncher
from patchpilot.transports.psrp import PSRPTransport
from patchpilot.transports.winssh import WindowsSSHTransport


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


LATER = [{"id": "KB5031361", "candidate_version": "5a1b-2"}]


async def test_windows_rounds_reboot_verified_by_boot_time(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state")
    options = RunOptions(run_id="w1", stability_window=0, exit_codes="wsus", os="windows")
    secret = Secret.generate()
    row = RunRow("w1", "srv1", options.mode, options.model_dump_json(), secret, "running",
                 None, utc_now(), None, None)  # fmt: skip
    store.create_run(row)
    target = WindowsTarget("w1", ssu_then_cumulative(), offered_later=LATER, drop_after={1: 2})
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
    assert target.verbs == ["run", "scan", "run", "scan", "run"]  # all as SYSTEM tasks
    assert target.tasks == {}  # every task unregistered
    assert target.endpoints[1].reads == [1, 3]  # the dropped stream resumed after record 2
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
                           client=pushed_path(client.sha256), offered_later=LATER)  # fmt: skip
    options = RunOptions(
        run_id="w2", stability_window=0, exit_codes="wsus", os="windows",
        python="C:\\Python312\\python.exe",
    )  # fmt: skip
    result = await run_target(
        TargetSpec("srv2", "srv2"),
        options,
        store=open_store(tmp_path / "state"),
        on_event=lambda event: None,
        transport=target.transport,
        client=client,
    )
    assert result.outcome is Outcome.SUCCESS and result.exit_code == 110
    assert target.transport.files[pushed_path(client.sha256)][0] == b"fake client"
    assert target.verbs == ["lock", "run", "scan", "run", "scan", "run", "unlock"]
    assert target.tasks == {} and target.holder is None and target.answers == {}


def test_windows_transport_by_configuration() -> None:
    base = {"run_id": "w3", "os": "windows", "python": "C:\\Py\\python.exe"}
    psrp = make_transport(TargetSpec("srv", "srv"), RunOptions(**base, transport="psrp"))
    assert isinstance(psrp, PSRPTransport)
    assert isinstance(
        make_transport(TargetSpec("srv", "srv"), RunOptions(**base)), WindowsSSHTransport
    )
    inventory_psrp = TargetSpec("srv", "srv", transport="psrp")
    assert isinstance(make_transport(inventory_psrp, RunOptions(**base)), PSRPTransport)


async def test_a_launch_the_connector_died_in_finds_its_task_again(tmp_path: Path) -> None:
    target = WindowsTarget("w4", ssu_then_cumulative())
    target.started.add(1)  # the client wrote its state before the connector died
    ctx = RoundContext(
        transport=target.transport,
        launcher=SchtasksLauncher(),
        probe=WindowsOS().probe(),
        store=open_store(tmp_path / "state"),
        options=RunOptions(run_id="w4", os="windows"),
        run_id="w4",
        target="srv4",
        secret=Secret.generate(),
        client=CLIENT,
        emit=lambda event: None,
        os=WindowsOS(python=PYTHON),
    )
    row = await launch(ctx, RoundRow("w4", 1, "launching"), {})
    assert (row.phase, row.launcher, row.task_id) == ("launched", "schtasks", "patchpilot-w4-r1")
    assert target.tasks == {}  # not launched twice
