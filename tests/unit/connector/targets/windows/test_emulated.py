"""The connector's Windows path end to end with the real client, over real SSH, on a Windows
server emulated on this machine (windows_emulator.py): SYSTEM tasks for every client command,
the journal through the pipe relay, the WUA backend on the WUA fake, two verified restarts,
the WSUS exit code; with a pushed client, and with the client on a UNC share of a real Samba
server that only the tasks read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from windows_emulator import EmulatedWindows

from patchpilot.client_build import build_client
from patchpilot.connector.events import Event, JournalRecord
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.store import open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.lab.samba import SAMBA_PASSWORD, SAMBA_USER, SambaServer, samba_missing
from patchpilot.transports.ssh import SSHSettings
from patchpilot.transports.winssh import WindowsSSHTransport

SCENARIO = (
    Path(__file__).parents[3] / "client" / "wua_scenarios" / "servicing_stack_then_cumulative.json"
)
PYTHON = "C:\\Python312\\python.exe"
ALL_ROUNDS = ["lock", "run", "scan", "run", "scan", "run", "unlock"]
needs_samba = pytest.mark.skipif(samba_missing() is not None, reason=str(samba_missing()))


@contextlib.asynccontextmanager
async def reachable(machine: EmulatedWindows) -> AsyncIterator[SSHSettings]:
    """Serve the machine over SSH on 127.0.0.1 and restart it when asked; yield how to log in."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    (machine.tmp / "id").write_bytes(key.export_private_key())
    (machine.tmp / "id").chmod(0o600)
    acceptor, port, known = await machine.listen(key)
    (machine.tmp / "known_hosts").write_text(known + "\n")
    watcher = asyncio.ensure_future(machine.watch_reboots())
    try:
        yield SSHSettings(
            "127.0.0.1",
            port=port,
            user="Administrator",
            key_file=str(machine.tmp / "id"),
            known_hosts=str(machine.tmp / "known_hosts"),
        )
    finally:
        watcher.cancel()
        await machine.shutdown()
        acceptor.close()
        await acceptor.wait_closed()


async def patch(
    settings: SSHSettings, tmp: Path, events: list[Event], **options: object
) -> RunResult:
    """Run the connector against the emulated server, as `patchpilot run --os windows` does."""
    base: dict[str, object] = {"os": "windows", "transport": "ssh", "exit_codes": "wsus",
                               "stability_window": 0, "reboot_timeout": 60}  # fmt: skip
    run = run_target(
        TargetSpec("srv1", "127.0.0.1"),
        RunOptions(**{**base, **options}),  # type: ignore[arg-type]
        store=open_store(tmp / "state"),
        on_event=events.append,
        transport=WindowsSSHTransport(settings),
        client=build_client(tmp / "build"),
    )
    return await asyncio.wait_for(run, 240)


def task_logs(machine: EmulatedWindows) -> str:
    return "".join(p.read_text() for p in machine.tmp.glob("*.log"))


async def test_servicing_stack_then_cumulative_update_over_ssh(tmp_path: Path) -> None:
    machine = EmulatedWindows(tmp_path, SCENARIO, PYTHON)
    events: list[Event] = []
    async with reachable(machine) as settings:
        result = await patch(settings, tmp_path, events, run_id="win1", python=PYTHON)
    assert result.exit_code == 110, (result.to_dict(), task_logs(machine))  # installed, rebooted
    assert machine.foreign == []  # the session never ran the client (or anything else)
    assert machine.verbs == ALL_ROUNDS
    assert machine.reboots == 2 and len(result.reboots) == 2
    assert sorted(u["id"] for u in result.updates) == ["KB5031361", "KB5031364"]
    records = [e for e in events if isinstance(e, JournalRecord)]
    assert any(r.record["event"] == "wua.search.started" for r in records)
    assert machine.tasks == {}  # every task removed
    assert not (machine.data / "target.lock").exists()
    assert len(list((machine.data / "client").glob("*.pyz"))) == 1  # pushed once


async def test_a_wsus_style_exclude_list_of_bare_kb_numbers_holds_back_an_update(
    tmp_path: Path,
) -> None:
    machine = EmulatedWindows(tmp_path, SCENARIO, PYTHON)
    events: list[Event] = []
    async with reachable(machine) as settings:
        result = await patch(
            settings, tmp_path, events, run_id="win2", python=PYTHON, exclude=["5031361"]
        )
    assert result.exit_code == 110, (result.to_dict(), task_logs(machine))
    assert [u["id"] for u in result.updates] == ["KB5031364"] and machine.reboots == 1
    skipped = [r.record for r in events if isinstance(r, JournalRecord) and r.round == 2]
    plan = next(r["fields"] for r in skipped if r["event"] == "plan.selected")
    assert plan["selected"] == [] and plan["skipped"][0]["id"] == "KB5031361"


@needs_samba
async def test_the_client_runs_from_a_unc_share_the_session_never_touches(
    samba: SambaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = samba.share / "emulated"
    (folder / "python").mkdir(parents=True)
    (folder / "python" / "python.exe").write_bytes(b"the embeddable runtime")
    built = build_client(tmp_path / "build")
    (folder / "patchpilot-client.pyz").write_bytes(built.path.read_bytes())
    unc = "\\\\127.0.0.1\\patch\\emulated"
    machine = EmulatedWindows(tmp_path, SCENARIO, unc + "\\python\\python.exe",
                              shares={"\\\\127.0.0.1\\patch": samba.share})  # fmt: skip
    monkeypatch.setenv("PATCHPILOT_SMB_USER", SAMBA_USER)
    monkeypatch.setenv("PATCHPILOT_SMB_PASSWORD", SAMBA_PASSWORD)
    shared = {"client_path": unc + "\\patchpilot-client.pyz", "smb_port": samba.port}
    events: list[Event] = []
    async with reachable(machine) as settings:
        result = await patch(settings, tmp_path, events, run_id="unc1", **shared)
        assert result.exit_code == 110, (result.to_dict(), task_logs(machine))
        assert machine.foreign == [] and machine.verbs == ALL_ROUNDS
        copy = f"C:\\ProgramData\\patchpilot\\client\\patchpilot-client-{built.sha256[:16]}.pyz"
        assert machine.clients == {copy}  # only the checked copy ran, never the share
        assert machine.local(copy).read_bytes() == built.path.read_bytes()
        (folder / "patchpilot-client.pyz").write_bytes(built.path.read_bytes() + b"tampered")
        refused = await patch(settings, tmp_path, events, run_id="unc2", **shared)
    assert refused.exit_code == -1 and "refusing to launch" in " ".join(refused.errors)
    assert machine.verbs == ALL_ROUNDS  # the tampered client never ran


async def test_target_hooks_run_as_system_tasks_at_each_point(tmp_path: Path) -> None:
    """Issue 13: each target hook is a client `hook` SYSTEM task (its spec in a file, its
    answer through --output); the emulated machine's shell stands in for PowerShell."""
    machine = EmulatedWindows(tmp_path, SCENARIO, PYTHON)
    trace = tmp_path / "trace"
    line = f'echo "$PATCHPILOT_HOOK $PATCHPILOT_ROUND $PATCHPILOT_REBOOT_PENDING" >> {trace}'
    hooks = {f"hook_{p}": line for p in ("pre", "pre_reboot", "post_reboot", "post")}
    events: list[Event] = []
    async with reachable(machine) as settings:
        result = await patch(settings, tmp_path, events, run_id="win3", python=PYTHON, **hooks)
    assert result.exit_code == 110, (result.to_dict(), task_logs(machine))
    assert trace.read_text().splitlines() == [
        "pre 1 0",
        "pre-reboot 1 1",
        "post-reboot 1 0",
        "pre-reboot 2 1",
        "post-reboot 2 0",
        "post 3 0",
    ]
    assert machine.verbs.count("hook") == 6 and machine.foreign == []
    assert [h["point"] for h in result.hooks][:2] == ["pre", "pre-reboot"]
