"""The Windows BootProbe: boot identity from CIM's LastBootUpTime, readiness after a restart.

Boot identity is `Win32_OperatingSystem.LastBootUpTime` in UTC to the second: it changes with
every boot and is read by a PowerShell command whose failure is "unreachable", never
"changed". Windows derives it from the clock minus the uptime, so a clock correction moves it
on the same boot: two readings count as the same boot unless they are more than
SAME_BOOT_SLACK seconds apart (a restart moves it by at least the uptime before the restart,
which includes the whole update). Readiness is what careful tools wait for: the logon screen
(LogonUI) or a desktop is up, and component-based servicing is not still working
(`ServicingInProgress` under the CBS `Interface` key is not 2); TiWorker's presence is
reported but does not block, since it lingers idle after a finished transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from patchpilot.connector.targets.base import BootProbe, Readiness
from patchpilot.errors import TransportError
from patchpilot.transports.base import Transport
from patchpilot.transports.powershell import last_json, powershell_argv

__all__ = ["WindowsBootProbe", "parse_boot", "parse_readiness"]

_PROBE_TIMEOUT = 60.0
SAME_BOOT_SLACK = 30.0
_SERVICING_BUSY = 2

BOOT_SCRIPT = """$ErrorActionPreference = 'Stop'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$invariant = [Globalization.CultureInfo]::InvariantCulture  # ':' is culture-specific
$boot = $os.LastBootUpTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', $invariant)
@{ boot = $boot } | ConvertTo-Json -Compress
"""

READINESS_SCRIPT = """$ErrorActionPreference = 'Stop'
$key = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Interface'
$cbs = Get-ItemProperty -Path $key -Name ServicingInProgress -ErrorAction SilentlyContinue
$servicing = if ($cbs) { [int]$cbs.ServicingInProgress } else { $null }
@{
  logonui = @(Get-Process -Name LogonUI -ErrorAction SilentlyContinue).Count -gt 0
  desktop = @(Get-Process -Name explorer -ErrorAction SilentlyContinue).Count -gt 0
  servicing = $servicing
  tiworker = @(Get-Process -Name TiWorker -ErrorAction SilentlyContinue).Count -gt 0
} | ConvertTo-Json -Compress
"""


def parse_boot(exit_status: int, stdout: str) -> str | None:
    """Return the boot identity from the boot script's result, or None unless it succeeded."""
    if exit_status != 0:
        return None
    try:
        doc = last_json(stdout)
    except ValueError:
        return None
    boot = doc.get("boot") if isinstance(doc, dict) else None
    if not isinstance(boot, str) or not boot.strip() or " " in boot.strip():
        return None
    return boot.strip()


def _instant(boot: str) -> float:
    """Return a boot time `YYYY-MM-DDTHH:MM:SSZ` as seconds; ValueError for anything else."""
    return datetime.strptime(boot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def parse_readiness(exit_status: int, stdout: str) -> Readiness:
    """Map the readiness script's JSON to Readiness (not ready when it cannot be read)."""
    try:
        doc: Any = last_json(stdout) if exit_status == 0 else None
    except ValueError:
        doc = None
    if not isinstance(doc, Mapping):
        return Readiness(False, f"readiness unreadable (exit status {exit_status})")
    screen = bool(doc.get("logonui")) or bool(doc.get("desktop"))
    servicing = doc.get("servicing")
    busy = servicing == _SERVICING_BUSY
    detail = (
        f"logon screen {'up' if doc.get('logonui') else 'down'}, "
        f"desktop {'up' if doc.get('desktop') else 'down'}, "
        f"ServicingInProgress={servicing if servicing is not None else 'absent'}, "
        f"TiWorker {'running' if doc.get('tiworker') else 'idle'}"
    )
    return Readiness(screen and not busy, detail)


class WindowsBootProbe(BootProbe):
    """Boot identity and readiness of a Windows target, through PowerShell."""

    async def boot_id(self, transport: Transport) -> str:
        read = await transport.run(powershell_argv(BOOT_SCRIPT), timeout=_PROBE_TIMEOUT)
        value = parse_boot(read.exit_status, read.stdout)
        if value is None:
            reason = read.stderr.strip()[-300:] or "no boot time"
            raise TransportError(f"cannot read LastBootUpTime: {reason}")
        return value

    async def readiness(self, transport: Transport) -> Readiness:
        read = await transport.run(powershell_argv(READINESS_SCRIPT), timeout=_PROBE_TIMEOUT)
        return parse_readiness(read.exit_status, read.stdout)

    def same_boot(self, first: str, second: str) -> bool:
        try:
            apart = abs(_instant(first) - _instant(second))
        except ValueError:
            return first == second
        return apart <= SAME_BOOT_SLACK
