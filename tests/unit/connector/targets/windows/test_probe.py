"""The Windows boot probe: LastBootUpTime and readiness, parsed from PowerShell output; a
clock correction on the same boot is no restart."""

from __future__ import annotations

import base64

import pytest

from patchpilot.connector.run.reboot import Clock, RebootPolicy, await_reboot
from patchpilot.connector.targets.base import Readiness
from patchpilot.connector.targets.windows.probe import (
    WindowsBootProbe,
    parse_boot,
    parse_readiness,
)
from patchpilot.errors import RebootError, TransportError
from patchpilot.transports.base import CommandResult, Transport
from patchpilot.transports.fake import FakeTransport

T = FakeTransport(lambda argv, stdin: (0, ""))


@pytest.mark.parametrize(
    ("exit_status", "stdout", "expected"),
    [
        (0, '{"boot":"2026-11-25T03:01:02Z"}\r\n', "2026-11-25T03:01:02Z"),
        (0, 'WARNING: x\n{"boot":"2026-11-25T03:01:02Z"}', "2026-11-25T03:01:02Z"),
        (1, '{"boot":"2026-11-25T03:01:02Z"}', None),  # a failed read is never a boot id
        (0, "", None),
        (0, '{"boot":""}', None),
        (0, '{"boot":null}', None),
        (0, "[1]", None),
        (0, "Get-CimInstance : Access denied", None),
    ],
)
def test_parse_boot(exit_status: int, stdout: str, expected: str | None) -> None:
    assert parse_boot(exit_status, stdout) == expected


@pytest.mark.parametrize(
    ("stdout", "ready", "words"),
    [
        (
            '{"logonui":true,"desktop":false,"servicing":0,"tiworker":false}',
            True,
            "logon screen up",
        ),
        ('{"logonui":true,"desktop":false,"servicing":null,"tiworker":true}', True, "absent"),
        ('{"logonui":false,"desktop":true,"servicing":0,"tiworker":false}', True, "desktop up"),
        ('{"logonui":true,"desktop":false,"servicing":2,"tiworker":true}', False, "=2"),
        ('{"logonui":false,"desktop":false,"servicing":0,"tiworker":false}', False, "down"),
        ("not json", False, "unreadable"),
    ],
)
def test_parse_readiness(stdout: str, ready: bool, words: str) -> None:
    readiness = parse_readiness(0, stdout)
    assert readiness.is_ready is ready
    assert words in readiness.detail


def test_readiness_unreadable_when_the_command_failed() -> None:
    assert not parse_readiness(1, '{"logonui":true}').is_ready


def decoded(argv: tuple[str, ...]) -> str:
    return base64.b64decode(argv[-1]).decode("utf-16-le")


async def test_probe_runs_cim_and_cbs_scripts() -> None:
    seen: list[str] = []

    def handler(argv: tuple[str, ...], _: bytes | None) -> CommandResult:
        script = decoded(argv)
        seen.append(script)
        out = (
            '{"boot":"2026-11-25T03:01:02Z"}'
            if "LastBootUpTime" in script
            else '{"logonui":true,"servicing":0}'
        )
        return CommandResult(argv, 0, out, "", 0.1)

    probe = WindowsBootProbe()
    transport = FakeTransport(handler)
    assert await probe.boot_id(transport) == "2026-11-25T03:01:02Z"
    assert (await probe.readiness(transport)).is_ready
    assert "Get-CimInstance -ClassName Win32_OperatingSystem" in seen[0]
    assert "Component Based Servicing\\Interface" in seen[1]
    assert "Get-Process -Name LogonUI" in seen[1]


async def test_probe_failure_raises_not_changed() -> None:
    transport = FakeTransport(lambda argv, _: CommandResult(argv, 1, "", "WinRM refused", 0.1))
    with pytest.raises(TransportError, match="WinRM refused"):
        await WindowsBootProbe().boot_id(transport)


def test_a_clock_correction_is_the_same_boot_a_restart_is_not() -> None:
    probe = WindowsBootProbe()
    assert probe.same_boot("2026-11-25T01:00:00Z", "2026-11-25T01:00:02Z")  # NTP moved it
    assert probe.same_boot("2026-11-25T01:00:30Z", "2026-11-25T01:00:00Z")
    assert not probe.same_boot("2026-11-25T01:00:00Z", "2026-11-25T01:00:31Z")
    assert not probe.same_boot("2026-11-25T01:00:00Z", "2026-11-25T03:12:09Z")
    assert not probe.same_boot("2026-11-25T01:00:00Z", "not-a-time")


class DriftingWindows(WindowsBootProbe):
    """A Windows server whose LastBootUpTime readings are scripted (the last repeats)."""

    def __init__(self, boots: list[str]) -> None:
        self.boots = boots

    async def boot_id(self, transport: Transport) -> str:
        return self.boots.pop(0) if len(self.boots) > 1 else self.boots[0]

    async def readiness(self, transport: Transport) -> Readiness:
        return Readiness(True, "logon screen up")


async def test_a_boot_time_moved_by_the_clock_is_not_taken_for_a_restart() -> None:
    time = [0.0]

    async def sleep(seconds: float) -> None:
        time[0] += seconds

    clock = Clock(now=lambda: time[0], sleep=sleep)
    policy = RebootPolicy(timeout=60, stability_window=5, stability_timeout=30)
    drifted = DriftingWindows(["2026-11-25T01:00:00Z", "2026-11-25T01:00:01Z"])
    with pytest.raises(RebootError, match="has not rebooted"):
        await await_reboot(T, drifted, "2026-11-25T01:00:00Z", policy, clock=clock)
    restarted = DriftingWindows(["2026-11-25T01:00:01Z", "2026-11-25T02:10:00Z"])
    after = await await_reboot(T, restarted, "2026-11-25T01:00:00Z", policy, clock=clock)
    assert after == "2026-11-25T02:10:00Z"
