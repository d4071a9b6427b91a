"""The Windows Task Scheduler launcher: a one-time task runs the client as SYSTEM.

WUA refuses to download or install under a remote logon token, so the client must start on
the target itself. `launch` registers `\\patchpilot\\patchpilot-<key>` with the ScheduledTasks
cmdlets (principal SYSTEM, highest run level, no trigger) and starts it at once, or gives it a
one-time trigger `--start-delay` seconds ahead for the old "one minute later" behaviour.
`status` reads the task's State and LastTaskResult (and, when it failed to start, the
scheduler's reason in words); `cleanup` unregisters it. Every script is a constant template
filled with PowerShell literals (`transports/powershell.py`).
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from patchpilot.errors import ConfigurationError, LaunchError
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState, TaskStatus
from patchpilot.transports.base import Transport
from patchpilot.transports.powershell import PsValue, last_json, powershell_argv, render

__all__ = ["TASK_PATH", "SchtasksLauncher", "action_arguments", "status_from_info", "task_name"]

TASK_PATH = "\\patchpilot\\"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
# Task Scheduler expands %VARIABLES% in an action's arguments; no quoting stops it.
_REFUSED = re.compile(r"[%\x00\r\n]")

SCHED_S_TASK_READY = 0x41300
SCHED_S_TASK_RUNNING = 0x41301
SCHED_S_TASK_HAS_NOT_RUN = 0x41303
# LastTaskResult values that mean the program never started, in words.
START_FAILURES = {
    0x80070002: "the program was not found (ERROR_FILE_NOT_FOUND)",
    0x80070003: "the program's path was not found (ERROR_PATH_NOT_FOUND)",
    0x80070005: "access denied starting the program",
    0x800700C1: "the program is not a valid Windows application",
    0x8007010B: "the start-in directory is invalid",
    0x80070569: "SYSTEM lacks the logon right the task needs",
    0x800710E0: "the operator or administrator refused the request",
    0x8004131F: "an instance of the task is already running",
    0x80041326: "the task is disabled",
}

_COMMON = "$ErrorActionPreference = 'Stop'\n$name = {{name}}; $path = {{path}}\n"

REGISTER = (
    _COMMON
    + """$action = New-ScheduledTaskAction -Execute {{execute}} -Argument {{arguments}}
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount `
  -RunLevel Highest
$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
  -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Hours 24)
$extra = @{}
if ({{delay}} -gt 0) {
  $extra['Trigger'] = New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds({{delay}})
}
Register-ScheduledTask -TaskName $name -TaskPath $path -Action $action -Principal $principal `
  -Settings $settings -Force @extra | Out-Null
if ({{delay}} -le 0) { Start-ScheduledTask -TaskName $name -TaskPath $path }
@{ registered = $true } | ConvertTo-Json -Compress
"""
)

STATUS = (
    _COMMON
    + """$task = Get-ScheduledTask -TaskName $name -TaskPath $path -ErrorAction SilentlyContinue
if ($null -eq $task) { @{ exists = $false } | ConvertTo-Json -Compress; exit 0 }
$info = $task | Get-ScheduledTaskInfo
$reason = ''
try {
  $log = @{ LogName = 'Microsoft-Windows-TaskScheduler/Operational'; Level = 2 }
  $found = Get-WinEvent -FilterHashtable $log -MaxEvents 200 -ErrorAction Stop |
    Where-Object { $_.Message.Contains($path + $name) } | Select-Object -First 1
  if ($found) { $reason = $found.Message }
} catch { $reason = '' }
@{ exists = $true; state = [string]$task.State; last_result = [int64]$info.LastTaskResult;
   reason = $reason } | ConvertTo-Json -Compress
"""
)

CLEANUP = (
    _COMMON
    + """Stop-ScheduledTask -TaskName $name -TaskPath $path -ErrorAction SilentlyContinue
Unregister-ScheduledTask -TaskName $name -TaskPath $path -Confirm:$false `
  -ErrorAction SilentlyContinue
@{ removed = $true } | ConvertTo-Json -Compress
"""
)

AVAILABLE = """$ErrorActionPreference = 'Stop'
$found = Get-Command Register-ScheduledTask -ErrorAction SilentlyContinue
@{ ok = [bool]$found } | ConvertTo-Json -Compress
"""


def task_name(key: str) -> str:
    """Return the task's name for a task key (`<run>-r<N>`); refuse anything but [A-Za-z0-9._-]."""
    if not _KEY.fullmatch(key):
        raise ConfigurationError(f"not a valid task key: {key!r}")
    return f"patchpilot-{key}"


def action_arguments(argv: Sequence[str]) -> str:
    """Return argv[1:] as one Windows command line (MS C runtime quoting) for the action.

    Raise ConfigurationError for %, NUL or line breaks: Task Scheduler expands %VAR% in
    arguments and no quoting prevents it.
    """
    bad = [a for a in argv if _REFUSED.search(a)]
    if bad:
        raise ConfigurationError(f"a scheduled task cannot carry this argument safely: {bad[0]!r}")
    return subprocess.list2cmdline(list(argv[1:]))


def status_from_info(info: Mapping[str, Any]) -> TaskStatus:
    """Map the status script's JSON (exists, state, last_result, reason) to a TaskStatus."""
    if not info.get("exists"):
        return TaskStatus(TaskState.UNKNOWN, detail="the task is not registered")
    state = str(info.get("state", ""))
    result = int(info.get("last_result", SCHED_S_TASK_HAS_NOT_RUN)) & 0xFFFFFFFF
    detail = f"state={state} last_result=0x{result:X}"
    if state == "Running" or result == SCHED_S_TASK_RUNNING:
        return TaskStatus(TaskState.RUNNING, detail=detail)
    if state == "Queued" or result in (SCHED_S_TASK_HAS_NOT_RUN, SCHED_S_TASK_READY):
        return TaskStatus(TaskState.QUEUED, detail=detail)
    if result in START_FAILURES:
        reason = str(info.get("reason") or "").strip()
        words = START_FAILURES[result] + (f"; scheduler log: {reason}" if reason else "")
        return TaskStatus(TaskState.FAILED_TO_START, detail=f"{detail}: {words}")
    return TaskStatus(TaskState.EXITED, exit_status=result, detail=detail)


class SchtasksLauncher(Launcher):
    """Launch the client as a one-time SYSTEM task of the Windows Task Scheduler."""

    name = "schtasks"

    async def is_available(self, transport: Transport) -> bool:
        result = await transport.run(powershell_argv(AVAILABLE), timeout=60)
        return result.ok and bool(_json_or_empty(result.stdout).get("ok"))

    async def launch(
        self, transport: Transport, argv: Sequence[str], *, run_id: str, start_delay: float = 0
    ) -> TaskHandle:
        if not argv:
            raise ConfigurationError("empty command")
        values: dict[str, PsValue] = {
            "name": task_name(run_id),
            "path": TASK_PATH,
            "execute": argv[0],
            "arguments": action_arguments(argv),
            "delay": math.ceil(start_delay) if start_delay > 0 else 0,
        }
        result = await transport.run(powershell_argv(render(REGISTER, values)), timeout=120)
        if not result.ok or not _json_or_empty(result.stdout).get("registered"):
            reason = result.stderr.strip() or f"exit status {result.exit_status}"
            raise LaunchError(f"Task Scheduler refused {values['name']}: {reason}")
        return TaskHandle(self.name, str(values["name"]))

    def handle_for(self, key: str) -> TaskHandle | None:
        return TaskHandle(self.name, task_name(key))

    async def status(self, transport: Transport, handle: TaskHandle) -> TaskStatus:
        script = render(STATUS, {"name": handle.task_id, "path": TASK_PATH})
        result = await transport.run(powershell_argv(script), timeout=60)
        info = _json_or_empty(result.stdout)
        if not result.ok or not info:
            return TaskStatus(TaskState.UNKNOWN, detail=result.stderr.strip()[-500:])
        return status_from_info(info)

    async def cleanup(self, transport: Transport, handle: TaskHandle) -> None:
        script = render(CLEANUP, {"name": handle.task_id, "path": TASK_PATH})
        await transport.run(powershell_argv(script), timeout=60)


def _json_or_empty(stdout: str) -> dict[str, Any]:
    try:
        value = last_json(stdout)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
