"""How the connector reaches a target: `TRANSPORTS` maps a name to its Transport class."""

from __future__ import annotations

from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.local import LocalTransport
from patchpilot.transports.psrp import PSRPTransport
from patchpilot.transports.ssh import SSHTransport
from patchpilot.transports.winssh import WindowsSSHTransport

__all__ = ["TRANSPORTS", "CommandResult", "Stream", "Transport"]

TRANSPORTS: dict[str, type[Transport]] = {
    "ssh": SSHTransport,
    "local": LocalTransport,
    "fake": FakeTransport,
    "psrp": PSRPTransport,
    "ssh-windows": WindowsSSHTransport,
}
