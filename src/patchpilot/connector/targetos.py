"""What differs between a Linux and a Windows target, behind one small interface.

The round loop needs, per OS: where a round's files live, the command that runs the client,
how to read a file back, how to deploy the client, which boot probe and which launcher to
use, and which transport reaches the target. `TARGET_OS` maps `--os` to the implementation;
`make_windows_transport` builds WinRM or SSH-to-Windows from settings alone.
"""

from __future__ import annotations

import abc
import ntpath
import posixpath
from dataclasses import dataclass, field

from patchpilot.connector import deploy, windows_target
from patchpilot.connector.deploy import ClientArtifact
from patchpilot.connector.probes import BootProbe, LinuxBootProbe
from patchpilot.connector.windows_probe import WindowsBootProbe
from patchpilot.errors import ConfigurationError
from patchpilot.transports.base import Transport
from patchpilot.transports.psrp import PSRPSettings, PSRPTransport
from patchpilot.transports.smb import SMBSettings, SMBShare
from patchpilot.transports.ssh import SSHSettings
from patchpilot.transports.winssh import WindowsSSHTransport

__all__ = ["TARGET_OS", "LinuxOS", "TargetOS", "WindowsOS", "make_windows_transport"]


class TargetOS(abc.ABC):
    """The OS-specific steps of a run, for one target."""

    name: str = "base"
    launcher: str = "auto"  # the launcher `auto` means on this OS

    @abc.abstractmethod
    def round_file(self, run_id: str, round_no: int, name: str) -> str:
        """Return the path of a round's file (job.json, state.json) on the target."""

    @abc.abstractmethod
    def client_argv(self, client: str, *args: str) -> list[str]:
        """Return the argv that runs the client with args on the target."""

    @abc.abstractmethod
    async def read_text(self, transport: Transport, path: str) -> str | None:
        """Return a text file on the target, None when it is absent or unreadable."""

    @abc.abstractmethod
    async def deploy(
        self, transport: Transport, artifact: ClientArtifact, shared_path: str | None
    ) -> str:
        """Return the client's path on the target (verified shared path, or pushed)."""

    @abc.abstractmethod
    def probe(self) -> BootProbe: ...


class LinuxOS(TargetOS):
    """Linux: `/var/lib/patchpilot`, python3, `cat`, sha256sum (connector/deploy.py)."""

    name = "linux"

    def round_file(self, run_id: str, round_no: int, name: str) -> str:
        return posixpath.join(deploy.round_dir(run_id, round_no), name)

    def client_argv(self, client: str, *args: str) -> list[str]:
        return deploy.client_argv(client, *args)

    async def read_text(self, transport: Transport, path: str) -> str | None:
        read = await transport.run(["cat", path])
        return read.stdout if read.ok else None

    async def deploy(
        self, transport: Transport, artifact: ClientArtifact, shared_path: str | None
    ) -> str:
        return await deploy.deploy_client(transport, artifact, shared_path=shared_path)

    def probe(self) -> BootProbe:
        return LinuxBootProbe()


@dataclass
class WindowsOS(TargetOS):
    """Windows: `%ProgramData%\\patchpilot`, a python.exe, PowerShell reads, SMB-verified shares.

    python is the interpreter the task runs: the embeddable runtime on the share
    (`\\\\files\\patchpilot\\python\\python.exe`) or a local install. smb reaches the share
    holding a shared client; without it only pushed clients are possible.
    """

    python: str = "python.exe"
    smb: SMBSettings | None = None
    name: str = field(default="windows", init=False)
    launcher: str = field(default="schtasks", init=False)

    def round_file(self, run_id: str, round_no: int, name: str) -> str:
        return ntpath.join(windows_target.round_dir(run_id, round_no), name)

    def client_argv(self, client: str, *args: str) -> list[str]:
        return windows_target.client_argv(self.python, client, *args)

    async def read_text(self, transport: Transport, path: str) -> str | None:
        return await windows_target.read_text(transport, path)

    async def deploy(
        self, transport: Transport, artifact: ClientArtifact, shared_path: str | None
    ) -> str:
        share = SMBShare(self.smb) if self.smb is not None and shared_path else None
        try:
            return await windows_target.deploy_windows_client(
                transport, artifact, shared_path=shared_path, share=share
            )
        finally:
            if share is not None:
                await share.close()

    def probe(self) -> BootProbe:
        return WindowsBootProbe()


TARGET_OS: dict[str, type[TargetOS]] = {"linux": LinuxOS, "windows": WindowsOS}


def make_windows_transport(
    kind: str, *, psrp: PSRPSettings | None = None, ssh: SSHSettings | None = None
) -> Transport:
    """Return the transport called kind ("psrp" or "ssh") for a Windows target."""
    if kind == "psrp" and psrp is not None:
        return PSRPTransport(psrp)
    if kind == "ssh" and ssh is not None:
        return WindowsSSHTransport(ssh)
    raise ConfigurationError(f"a Windows target is reached by psrp or ssh, not {kind!r}")
