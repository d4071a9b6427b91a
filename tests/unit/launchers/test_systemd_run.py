"""systemd-run launcher: `systemctl show` golden cases and the commands it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchpilot.errors import LaunchError
from patchpilot.launchers import TaskHandle, TaskState, choose_launcher
from patchpilot.launchers.at import AtLauncher
from patchpilot.launchers.systemd_run import SystemdRunLauncher, parse_show, status_from_show
from patchpilot.transports.base import CommandResult
from patchpilot.transports.fake import FakeTransport

GOLDEN = Path(__file__).parent / "golden" / "systemd_show"


@pytest.mark.parametrize("case", sorted(p.stem for p in GOLDEN.glob("*.txt")))
def test_status_golden(case: str) -> None:
    expected = json.loads((GOLDEN / f"{case}.json").read_text())
    status = status_from_show(parse_show((GOLDEN / f"{case}.txt").read_text()))
    assert (status.state.value, status.exit_status) == (expected["state"], expected["exit_status"])


async def test_launch_builds_a_transient_unit_that_keeps_its_result() -> None:
    transport = FakeTransport(lambda argv, stdin: (0, ""))
    handle = await SystemdRunLauncher().launch(
        transport, ["python3", "/c.pyz", "run"], run_id="r1-r2", start_delay=61.5
    )
    assert handle == TaskHandle("systemd-run", "patchpilot-r1-r2.service")
    argv = transport.commands[0]
    assert argv[:2] == ("systemd-run", "--unit=patchpilot-r1-r2.service")
    assert {"Type=exec", "--remain-after-exit", "--on-active=62s"} <= set(argv)
    assert argv[argv.index("--") + 1 :] == ("python3", "/c.pyz", "run")


async def test_refusal_is_a_launch_error() -> None:
    transport = FakeTransport(lambda argv, stdin: (1, ""))
    with pytest.raises(LaunchError):
        await SystemdRunLauncher().launch(transport, ["x"], run_id="r1-r1")


@pytest.mark.parametrize(("pid1", "expected"), [("systemd\n", "systemd-run"), ("init\n", "at")])
async def test_auto_picks_systemd_run_only_where_systemd_is_pid1(pid1: str, expected: str) -> None:
    transport = FakeTransport(lambda argv, stdin: (0, pid1 if "comm" in argv[-1] else ""))
    assert (await choose_launcher(transport, "auto")).name == expected
    assert isinstance(await choose_launcher(transport, "at"), AtLauncher)


def _launch_replies(
    systemd_run: CommandResult | tuple[int, str], shown: str, timer: str = "inactive"
) -> FakeTransport:
    def handler(argv: tuple[str, ...], stdin: bytes | None) -> CommandResult | tuple[int, str]:
        if argv[0] == "systemd-run":
            return systemd_run
        if argv[:2] == ("systemctl", "show"):
            return (0, shown)
        return (0 if timer == "active" else 3, timer)

    return FakeTransport(handler)


_EXITED_FAST = (
    "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\n"
    "ExecMainCode=1\nExecMainStatus=3\nExecMainPID=125\nExecMainStartTimestampMonotonic=9\n"
)


async def test_a_client_that_exits_before_systemd_saw_its_exec_was_launched() -> None:
    # --quiet hides systemd-run's "Job failed": exit 1, empty stderr (seen under load)
    transport = _launch_replies((1, ""), _EXITED_FAST)
    launcher = SystemdRunLauncher()
    handle = await launcher.launch(transport, ["x"], run_id="r1-r1")
    assert handle == TaskHandle("systemd-run", "patchpilot-r1-r1.service")
    status = await launcher.status(transport, handle)
    assert (status.state, status.exit_status) == (TaskState.EXITED, 3)


@pytest.mark.parametrize(
    "shown",
    [
        _EXITED_FAST,
        "LoadState=loaded\nActiveState=active\nSubState=running\nExecMainPID=77\n",
        "LoadState=loaded\nActiveState=activating\nSubState=start\nExecMainPID=0\n",
        "LoadState=loaded\nActiveState=active\nSubState=exited\nExecMainCode=1\n"
        "ExecMainStatus=0\nExecMainPID=0\nExecMainStartTimestampMonotonic=5\n",
    ],
)
async def test_a_retried_launch_finds_the_unit_it_already_started(shown: str) -> None:
    refused = CommandResult(
        ("systemd-run",),
        1,
        "",
        "Failed to start transient service unit: Unit patchpilot-r1-r1.service already exists.",
        0.1,
    )
    handle = await SystemdRunLauncher().launch(
        _launch_replies(refused, shown), ["x"], run_id="r1-r1"
    )
    assert handle.task_id == "patchpilot-r1-r1.service"


async def test_a_retried_delayed_launch_finds_its_armed_timer() -> None:
    transport = _launch_replies(
        (1, ""), "LoadState=loaded\nActiveState=inactive\nExecMainPID=0\n", timer="active"
    )
    handle = await SystemdRunLauncher().launch(transport, ["x"], run_id="r1-r1", start_delay=30)
    assert handle.task_id == "patchpilot-r1-r1.service"
    assert ("systemctl", "is-active", "patchpilot-r1-r1.timer") in transport.commands


@pytest.mark.parametrize(
    ("shown", "unit_detail"),
    [
        ("LoadState=not-found\nActiveState=inactive\nExecMainPID=0\n", "unit not-found"),
        (  # 203/EXEC: the program could not be executed, it never ran
            "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\n"
            "ExecMainCode=1\nExecMainStatus=203\nExecMainPID=12\n",
            "failed/failed result=exit-code",
        ),
    ],
)
async def test_a_refusal_carries_what_the_target_said(shown: str, unit_detail: str) -> None:
    refused = CommandResult(("systemd-run",), 1, "out text", "", 0.1, exit_signal=None)
    with pytest.raises(LaunchError) as caught:
        await SystemdRunLauncher().launch(_launch_replies(refused, shown), ["x"], run_id="r1-r1")
    message = str(caught.value)
    assert "exit status 1" in message and "stdout: out text" in message
    assert unit_detail in message


async def test_a_refusal_names_the_signal_that_ended_systemd_run() -> None:
    killed = CommandResult(("systemd-run",), 255, "", "", 0.1, exit_signal="killed by SIGKILL")
    with pytest.raises(LaunchError, match=r"exit status 255 \(killed by SIGKILL\), no output"):
        await SystemdRunLauncher().launch(
            _launch_replies(killed, "LoadState=not-found\n"), ["x"], run_id="r1-r1"
        )
