"""The target's own schedulers: `LAUNCHERS` maps a name to its Launcher class."""

from __future__ import annotations

from patchpilot.errors import LaunchError
from patchpilot.launchers.at import AtLauncher
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState, TaskStatus
from patchpilot.launchers.schtasks import SchtasksLauncher
from patchpilot.launchers.systemd_run import SystemdRunLauncher
from patchpilot.transports.base import Transport

__all__ = ["LAUNCHERS", "Launcher", "TaskHandle", "TaskState", "TaskStatus", "choose_launcher"]

LAUNCHERS: dict[str, type[Launcher]] = {
    "systemd-run": SystemdRunLauncher,
    "at": AtLauncher,
    "schtasks": SchtasksLauncher,
}


async def choose_launcher(transport: Transport, name: str) -> Launcher:
    """Return the launcher called name; `auto` is systemd-run where systemd is PID 1, else at.

    Raise LaunchError when the chosen scheduler is missing on the target.
    """
    if name == "auto":
        systemd = SystemdRunLauncher()
        return systemd if await systemd.is_available(transport) else AtLauncher()
    launcher = LAUNCHERS[name]()
    if not await launcher.is_available(transport):
        raise LaunchError(f"the {name} launcher is not available on the target")
    return launcher
