"""Per-OS facts the reboot verification needs: boot identity and readiness (the BootProbe seam).

A boot id only counts when the command that read it succeeded and printed something: a
failing read is "unreachable", never "changed" (ansible#83018). The Windows probe
(LastBootUpTime via CIM, servicing idle) is `windows_probe.WindowsBootProbe`; each
`TargetOS.probe()` returns its own.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from patchpilot.errors import TransportError
from patchpilot.transports.base import Transport

__all__ = [
    "BootProbe",
    "LinuxBootProbe",
    "Readiness",
    "parse_boot_id",
    "parse_system_state",
]

_READY_STATES = ("running", "degraded")
_PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Readiness:
    is_ready: bool
    detail: str


class BootProbe(abc.ABC):
    """Read a target's boot identity and whether it has finished starting."""

    @abc.abstractmethod
    async def boot_id(self, transport: Transport) -> str:
        """Return the current boot's identity; raise TransportError if it cannot be read."""

    @abc.abstractmethod
    async def readiness(self, transport: Transport) -> Readiness:
        """Tell whether the target finished booting (services up, servicing idle)."""

    def same_boot(self, first: str, second: str) -> bool:
        """Tell whether two boot identities read from the target name the same boot."""
        return first == second


def parse_boot_id(exit_status: int, stdout: str) -> str | None:
    """Return the boot id from a read's result, or None unless it succeeded with a value."""
    value = stdout.strip()
    if exit_status != 0 or not value or len(value.split()) != 1:
        return None
    return value


def parse_system_state(exit_status: int, stdout: str) -> Readiness:
    """Map `systemctl is-system-running` to readiness (running or degraded is ready)."""
    state = stdout.strip() or f"exit status {exit_status}"
    if exit_status == 127 or state == "offline":  # no systemctl, or systemd is not PID 1
        return Readiness(True, f"no systemd ({state})")
    return Readiness(state in _READY_STATES, state)


class LinuxBootProbe(BootProbe):
    async def boot_id(self, transport: Transport) -> str:
        read = await transport.run(
            ["cat", "/proc/sys/kernel/random/boot_id"], timeout=_PROBE_TIMEOUT
        )
        value = parse_boot_id(read.exit_status, read.stdout)
        if value is None:
            raise TransportError(f"cannot read the boot id: {read.stderr.strip() or 'empty'}")
        return value

    async def readiness(self, transport: Transport) -> Readiness:
        read = await transport.run(["systemctl", "is-system-running"], timeout=_PROBE_TIMEOUT)
        return parse_system_state(read.exit_status, read.stdout)
