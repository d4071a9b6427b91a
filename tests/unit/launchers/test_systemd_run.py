"""systemd-run launcher: `systemctl show` golden cases and the commands it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchpilot.errors import LaunchError
from patchpilot.launchers import TaskHandle, choose_launcher
from patchpilot.launchers.at import AtLauncher
from patchpilot.launchers.systemd_run import SystemdRunLauncher, parse_show, status_from_show
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
