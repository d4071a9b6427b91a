"""The systemd-run launcher: the client runs as a transient service unit, detached from SSH.

`systemd-run -p Type=exec` fails visibly when the program cannot start; `--remain-after-exit`
keeps the unit, and with it `Result` and `ExecMainStatus`, after the client exits, until
`cleanup` stops it. A start delay becomes a transient timer (`--on-active=`).

systemd-run's exit status alone does not say whether the client was started: with `--quiet` a
failed start job exits 1 with nothing on stderr, and a start job fails when the program exits
non-zero before systemd has seen its exec (a client that exits at once, or any client while
PID 1 is starved under load). A unit of the same name that already exists means a launch
that was retried (after an SSH timeout, or by a resumed connector) already happened. So a
refusal is confirmed with `systemctl show`: a unit whose program was started is this launch,
and its exit status is the client's to report, through `status`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from patchpilot.errors import LaunchError
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState, TaskStatus
from patchpilot.transports.base import Transport

__all__ = ["SystemdRunLauncher", "parse_show", "status_from_show", "unit_name", "was_started"]

_PROPERTIES = "LoadState,ActiveState,SubState,Result,ExecMainStatus,ExecMainCode"
_STARTED_PROPERTIES = f"{_PROPERTIES},ExecMainPID,ExecMainStartTimestampMonotonic"
_CLD_EXITED = "1"


def unit_name(task: str) -> str:
    """Return the service unit name for a task key (`<run>-r<N>`)."""
    return f"patchpilot-{task}.service"


def parse_show(text: str) -> dict[str, str]:
    """Parse `systemctl show -p ...` output (KEY=VALUE lines) into a dict."""
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}


def _exit_of(props: dict[str, str]) -> int | None:
    status = props.get("ExecMainStatus", "")
    if not status.lstrip("-").isdigit():
        return None
    code = int(status)
    return code if props.get("ExecMainCode") == _CLD_EXITED else 128 + code


def status_from_show(props: dict[str, str]) -> TaskStatus:
    """Map a unit's properties to a TaskStatus (pure, golden-tested)."""
    load, active = props.get("LoadState", ""), props.get("ActiveState", "")
    sub, result = props.get("SubState", ""), props.get("Result", "")
    detail = f"{active}/{sub} result={result}"
    if load != "loaded":
        return TaskStatus(TaskState.UNKNOWN, detail=f"unit {load or 'missing'}")
    if active == "activating":
        return TaskStatus(TaskState.QUEUED, detail=detail)
    if active in ("active", "reloading", "deactivating") and sub != "exited":
        return TaskStatus(TaskState.RUNNING, detail=detail)
    if active == "inactive" and props.get("ExecMainCode", "0") == "0":
        return TaskStatus(TaskState.QUEUED, detail=detail)
    if active == "failed" and result not in ("exit-code", "signal", "core-dump"):
        return TaskStatus(TaskState.FAILED_TO_START, detail=detail)
    return TaskStatus(TaskState.EXITED, _exit_of(props), detail)


def was_started(props: dict[str, str]) -> bool:
    """Tell whether a unit's program was started (runs, ran, or its start is under way); pure.

    Statuses 200-243 are systemd's own failures to set the program up (203: exec failed):
    the program never ran, so that launch failed.
    """
    if props.get("LoadState") != "loaded":
        return False
    status = props.get("ExecMainStatus", "0")
    if props.get("ExecMainCode") == _CLD_EXITED and status.isdigit() and 200 <= int(status) <= 243:
        return False
    if props.get("ActiveState") in ("active", "activating", "reloading", "deactivating"):
        return True
    started = props.get("ExecMainStartTimestampMonotonic", "0")
    return props.get("ExecMainPID", "0") not in ("", "0") or started not in ("", "0")


async def _is_armed(transport: Transport, unit: str) -> bool:
    """Tell whether the delayed start's timer of unit exists and waits."""
    timer = unit.removesuffix(".service") + ".timer"
    shown = await transport.run(["systemctl", "is-active", timer], timeout=30)
    return shown.stdout.strip() == "active"


class SystemdRunLauncher(Launcher):
    """Launch the client with systemd-run as a transient unit (root, no session)."""

    name = "systemd-run"

    async def is_available(self, transport: Transport) -> bool:
        pid1 = await transport.run(["cat", "/proc/1/comm"], timeout=20)
        if not pid1.ok or pid1.stdout.strip() != "systemd":
            return False
        return (await transport.run(["systemd-run", "--version"], timeout=20)).ok

    async def launch(
        self, transport: Transport, argv: Sequence[str], *, run_id: str, start_delay: float = 0
    ) -> TaskHandle:
        unit = unit_name(run_id)
        command = ["systemd-run", f"--unit={unit}", "--quiet", "-p", "Type=exec"]
        command.append("--remain-after-exit")
        if start_delay > 0:
            command.append(f"--on-active={math.ceil(start_delay)}s")
        result = await transport.run([*command, "--", *argv], timeout=60)
        if result.ok:
            return TaskHandle(self.name, unit)
        shown = await transport.run(
            ["systemctl", "show", unit, "-p", _STARTED_PROPERTIES], timeout=30
        )
        props = parse_show(shown.stdout) if shown.ok else {}
        if was_started(props) or (start_delay > 0 and await _is_armed(transport, unit)):
            return TaskHandle(self.name, unit)  # this launch (or a retried one) happened
        state = status_from_show(props).detail if props else shown.describe()
        raise LaunchError(
            f"systemd-run refused to start {unit}: {result.describe()} (unit: {state})"
        )

    def handle_for(self, key: str) -> TaskHandle | None:
        return TaskHandle(self.name, unit_name(key))

    async def status(self, transport: Transport, handle: TaskHandle) -> TaskStatus:
        shown = await transport.run(
            ["systemctl", "show", handle.task_id, "-p", _PROPERTIES], timeout=30
        )
        if not shown.ok:
            return TaskStatus(TaskState.UNKNOWN, detail=shown.stderr.strip())
        return status_from_show(parse_show(shown.stdout))

    async def cleanup(self, transport: Transport, handle: TaskHandle) -> None:
        timer = handle.task_id.removesuffix(".service") + ".timer"
        await transport.run(["systemctl", "stop", timer, handle.task_id], timeout=60)
        await transport.run(["systemctl", "reset-failed", handle.task_id], timeout=30)
