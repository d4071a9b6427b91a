"""at launcher: parsing at's answers, and its job script run by a real /bin/sh."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from patchpilot.errors import LaunchError
from patchpilot.launchers import TaskHandle, TaskState
from patchpilot.launchers.at import AtLauncher, at_time, parse_job_id, parse_status
from patchpilot.transports import quoting
from patchpilot.transports.fake import FakeTransport


@pytest.mark.parametrize(
    ("delay", "argv"),
    [(0, ["now"]), (1, ["now", "+", "1", "minutes"]), (61, ["now", "+", "2", "minutes"])],
)
def test_at_time_rounds_up(delay: float, argv: list[str]) -> None:
    assert at_time(delay) == argv


def test_parse_job_id() -> None:
    out = "warning: commands will be executed using /bin/sh\njob 17 at Wed Nov 25 03:30:00 2026\n"
    assert parse_job_id(out) == "17"
    assert parse_job_id("Can't open /var/run/atd.pid to signal atd. No atd running?\n") is None


@pytest.mark.parametrize(
    ("line", "state", "code"),
    [
        ("exited 0\n", TaskState.EXITED, 0),
        ("exited 4", TaskState.EXITED, 4),
        ("running\n", TaskState.RUNNING, None),
        ("queued", TaskState.QUEUED, None),
        ("gone", TaskState.UNKNOWN, None),
        ("", TaskState.UNKNOWN, None),
        ("exited x", TaskState.UNKNOWN, None),
    ],
)
def test_parse_status(line: str, state: TaskState, code: int | None) -> None:
    status = parse_status(line)
    assert (status.state, status.exit_status) == (state, code)


async def test_launch_sends_the_script_on_stdin_never_in_argv() -> None:
    seen: list[bytes | None] = []

    def at(argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str]:
        seen.append(stdin)
        return 0, "job 5 at Wed Nov 25 03:30:00 2026\n"

    transport = FakeTransport(at)
    handle = await AtLauncher().launch(
        transport, ["python3", "/c.pyz", "run", "--job", "a b"], run_id="r1-r1"
    )
    assert handle == TaskHandle("at", "r1-r1#5")
    assert transport.commands[0] == ("at", "-M", "now")
    assert seen[0] is not None and b"'a b'" in seen[0]


async def test_refused_job() -> None:
    transport = FakeTransport(lambda argv, stdin: (1, ""))
    with pytest.raises(LaunchError):
        await AtLauncher().launch(transport, ["x"], run_id="r1-r1")


def test_job_script_records_exit_status_for_the_status_script(tmp_path: Path) -> None:
    files = str(tmp_path / "launch" / "r1-r1")
    script = quoting.at_job_script(["sh", "-c", "echo hi; exit 3"], files)
    subprocess.run(["sh"], input=b"umask 022\n" + script.encode(), check=True)
    status = subprocess.run(quoting.at_status_script("5", files), capture_output=True, text=True)
    assert parse_status(status.stdout).exit_status == 3
    assert Path(files + ".log").read_text() == "hi\n"
    assert stat.S_IMODE((tmp_path / "launch").stat().st_mode) == 0o700
    for ext in ("pid", "boot", "log", "exit"):
        assert stat.S_IMODE(Path(f"{files}.{ext}").stat().st_mode) == 0o600
