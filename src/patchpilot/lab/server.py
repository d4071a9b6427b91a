"""A lab server as tests, the CLI and the other engineers' code see it: a frozen value.

How a server runs lives elsewhere: `container.py` (systemd-nspawn) and `vm.py` (qemu), both
`Machine`s driven by the supervisor.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Server"]


@dataclass(frozen=True)
class Server:
    """A lab server: its name (lab-1, lab-vm-1), where SSH answers, its kind, flavor
    (apt, dnf, zypper: its package tool) and Debian release (bullseye, bookworm, trixie)."""

    name: str
    address: str
    ssh_port: int = 22
    kind: str = "container"
    flavor: str = "apt"
    release: str = "bookworm"
