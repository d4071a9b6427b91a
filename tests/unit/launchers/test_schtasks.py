"""The Task Scheduler launcher: PowerShell text built from hostile names, status mapping."""

from __future__ import annotations

import base64
import subprocess

import pytest

from patchpilot.errors import ConfigurationError, LaunchError
from patchpilot.launchers.base import TaskHandle, TaskState
from patchpilot.launchers.schtasks import (
    CLEANUP,
    REGISTER,
    STATUS,
    SchtasksLauncher,
    action_arguments,
    status_from_info,
    task_name,
)
from patchpilot.transports.base import CommandResult
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.powershell import render, split_literals

HOSTILE_ARGV = [
    "C:\\Program Files\\Python 3.12\\python.exe",
    "\\\\files.example\\patch$\\patchpilot-client.pyz",
    "run",
    "--job",
    "C:\\ProgramData\\patchpilot\\runs\\it's; $(evil)`\\round-1\\job.json",
    'say "hi" & del *',
    "\u65e5\u672c \u2019quoted\u2018",
    "",
]


def script_of(argv: tuple[str, ...]) -> str:
    assert argv[5] == "-EncodedCommand"
    return base64.b64decode(argv[6]).decode("utf-16-le")


class Scheduler:
    """Plays the target: records every script and answers with canned JSON."""

    def __init__(self, status: str = '{"exists":true,"state":"Ready","last_result":0}') -> None:
        self.scripts: list[str] = []
        self.status = status

    def __call__(self, argv: tuple[str, ...], _input: bytes | None) -> CommandResult:
        script = script_of(argv)
        self.scripts.append(script)
        if "Register-ScheduledTask -TaskName" in script:
            out = '{"registered":true}'
        elif "Get-ScheduledTaskInfo" in script:
            out = self.status
        else:
            out = '{"ok":true}'
        return CommandResult(argv, 0, out + "\n", "", 0.1)


def assert_same_code(script: str, template: str, values: dict[str, object]) -> list[str]:
    """Assert the script is the template's code with only literal text changed."""
    blank = {k: "" if isinstance(v, str) else v for k, v in values.items()}
    assert split_literals(script)[0] == split_literals(render(template, blank))[0]  # type: ignore[arg-type]
    return split_literals(script)[1]


async def test_launch_registers_system_task_and_starts_it_at_once() -> None:
    scheduler = Scheduler()
    transport = FakeTransport(scheduler)
    handle = await SchtasksLauncher().launch(transport, HOSTILE_ARGV, run_id="nightly.1-r1")
    assert handle == TaskHandle("schtasks", "patchpilot-nightly.1-r1")
    script = scheduler.scripts[0]
    literals = assert_same_code(
        script,
        REGISTER,
        {
            "name": "x",
            "path": "x",
            "execute": "x",
            "arguments": "x",
            "delay": 0,
        },
    )
    assert literals[:4] == [
        "Stop",
        "patchpilot-nightly.1-r1",
        "\\patchpilot\\",
        HOSTILE_ARGV[0],
    ]
    assert literals[4] == subprocess.list2cmdline(HOSTILE_ARGV[1:])
    assert "-UserId 'SYSTEM'" in script and "-RunLevel Highest" in script
    assert "if (0 -le 0) { Start-ScheduledTask" in script


async def test_start_delay_becomes_a_one_time_trigger() -> None:
    scheduler = Scheduler()
    await SchtasksLauncher().launch(
        FakeTransport(scheduler), ["python.exe", "x.pyz"], run_id="r-r2", start_delay=59.2
    )
    script = scheduler.scripts[0]
    assert "(Get-Date).AddSeconds(60)" in script
    assert "if (60 -le 0)" in script


def test_arguments_follow_the_windows_command_line_rules() -> None:
    # CommandLineToArgvW/MSVCRT rules: backslashes before a quote are doubled, quotes escaped.
    assert action_arguments(["x", 'a "b"', "c\\", "d e\\"]) == '"a \\"b\\"" c\\ "d e\\\\"'


@pytest.mark.parametrize("bad", ["%COMSPEC%", "a\nb", "a\rb", "a\x00b"])
def test_arguments_refuse_what_task_scheduler_would_expand(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        action_arguments(["python.exe", bad])


@pytest.mark.parametrize("key", ["", "a b", "x\\y", "-lead", "a'b", "r$(x)", "a" * 90, "k\n"])
def test_task_key_refused(key: str) -> None:
    with pytest.raises(ConfigurationError):
        task_name(key)


async def test_launch_refused_raises_with_stderr() -> None:
    transport = FakeTransport(lambda argv, _: CommandResult(argv, 1, "", "Access is denied.", 0.1))
    with pytest.raises(LaunchError, match="Access is denied"):
        await SchtasksLauncher().launch(transport, ["python.exe"], run_id="r-r1")


async def test_status_and_cleanup_quote_the_task_name() -> None:
    scheduler = Scheduler('{"exists":true,"state":"Running","last_result":267009}')
    launcher = SchtasksLauncher()
    handle = TaskHandle("schtasks", "patchpilot-r-r1")
    status = await launcher.status(FakeTransport(scheduler), handle)
    assert status.state is TaskState.RUNNING
    await launcher.cleanup(FakeTransport(scheduler), handle)
    for script, template in zip(scheduler.scripts, (STATUS, CLEANUP), strict=True):
        literals = assert_same_code(script, template, {"name": "x", "path": "x"})
        assert literals[1:3] == ["patchpilot-r-r1", "\\patchpilot\\"]
    assert "Unregister-ScheduledTask" in scheduler.scripts[1]


async def test_status_unreadable_is_unknown() -> None:
    transport = FakeTransport(lambda argv, _: CommandResult(argv, 1, "", "WinRM broke", 0.1))
    status = await SchtasksLauncher().status(transport, TaskHandle("schtasks", "patchpilot-r"))
    assert status.state is TaskState.UNKNOWN and "WinRM broke" in status.detail


async def test_is_available() -> None:
    assert await SchtasksLauncher().is_available(FakeTransport(Scheduler()))
    no = FakeTransport(lambda argv, _: (0, '{"ok":false}'))
    assert not await SchtasksLauncher().is_available(no)


@pytest.mark.parametrize(
    ("info", "state", "exit_status"),
    [
        ({"exists": False}, TaskState.UNKNOWN, None),
        ({"exists": True, "state": "Ready", "last_result": 267011}, TaskState.QUEUED, None),
        ({"exists": True, "state": "Queued", "last_result": 0}, TaskState.QUEUED, None),
        ({"exists": True, "state": "Running", "last_result": 267011}, TaskState.RUNNING, None),
        ({"exists": True, "state": "Ready", "last_result": 0}, TaskState.EXITED, 0),
        ({"exists": True, "state": "Ready", "last_result": 4}, TaskState.EXITED, 4),
        (
            {"exists": True, "state": "Ready", "last_result": -2147024894},
            TaskState.FAILED_TO_START,
            None,
        ),
        (
            {"exists": True, "state": "Ready", "last_result": 2147946720},
            TaskState.FAILED_TO_START,
            None,
        ),
    ],
)
def test_status_from_info(
    info: dict[str, object], state: TaskState, exit_status: int | None
) -> None:
    status = status_from_info(info)
    assert status.state is state
    assert status.exit_status == exit_status


def test_failed_start_reason_in_words() -> None:
    status = status_from_info(
        {"exists": True, "state": "Ready", "last_result": 0x80070002, "reason": "Task failed: 2"}
    )
    assert "program was not found" in status.detail
    assert "scheduler log: Task failed: 2" in status.detail
