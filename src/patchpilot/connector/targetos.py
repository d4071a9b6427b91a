"""What differs between a Linux and a Windows target, behind one small interface.

The round loop needs, per OS: where a round's files live, the command that runs the client,
how to run a short client command (lock, unlock, scan) and open the round's log, how to read
a file back, how to deploy the client, which boot probe and which launcher to use, and which
transport reaches the target. `TARGET_OS` maps `--os` to the implementation;
`make_windows_transport` builds WinRM or SSH-to-Windows from settings alone.
"""

from __future__ import annotations

import abc
import ntpath
import os
import posixpath
from dataclasses import dataclass, field

from patchpilot.connector import deploy, windows_calls, windows_target
from patchpilot.connector.deploy import ClientArtifact
from patchpilot.connector.options import RunOptions
from patchpilot.connector.probes import BootProbe, LinuxBootProbe
from patchpilot.connector.windows_probe import WindowsBootProbe
from patchpilot.errors import ConfigurationError
from patchpilot.launchers.base import Launcher, TaskHandle
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.psrp import PSRPSettings, PSRPTransport
from patchpilot.transports.smb import SMBSettings, SMBShare
from patchpilot.transports.ssh import SSHSettings
from patchpilot.transports.winssh import WindowsSSHTransport

__all__ = [
    "TARGET_OS",
    "ClientSite",
    "LinuxOS",
    "TargetOS",
    "WindowsOS",
    "make_windows_transport",
    "target_os",
    "windows_transport",
]

# Secrets never go into RunOptions (they are stored); they come from the environment.
WINRM_PASSWORD_ENV = "PATCHPILOT_WINRM_PASSWORD"  # noqa: S105 - a variable name
SMB_USER_ENV = "PATCHPILOT_SMB_USER"
SMB_PASSWORD_ENV = "PATCHPILOT_SMB_PASSWORD"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class ClientSite:
    """How one run reaches its client: the link, the target's scheduler, the client's path."""

    transport: Transport
    launcher: Launcher
    client: str
    run_id: str


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
    async def call_client(self, site: ClientSite, *args: str, timeout: float) -> CommandResult:
        """Run a short client command (lock, unlock, scan) and return what it answered."""

    @abc.abstractmethod
    async def open_log(self, site: ClientSite, round_no: int, task: TaskHandle | None) -> Stream:
        """Open a byte stream to the round's log endpoint (the journal protocol runs on it).

        task is the round's client task when known: Windows asks whether it still runs.
        """

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

    async def call_client(self, site: ClientSite, *args: str, timeout: float) -> CommandResult:
        return await site.transport.run(self.client_argv(site.client, *args), timeout=timeout)

    async def open_log(self, site: ClientSite, round_no: int, task: TaskHandle | None) -> Stream:
        attach = ("attach", "--run", site.run_id, "--round", str(round_no))
        return await site.transport.open_stream(self.client_argv(site.client, *attach))

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
    holding a shared client; without it only pushed clients are possible. The client only
    ever runs as a SYSTEM task (windows_calls.py), never in the connector's session.
    """

    python: str = "python.exe"
    smb: SMBSettings | None = None
    name: str = field(default="windows", init=False)
    launcher: str = field(default="schtasks", init=False)

    def round_file(self, run_id: str, round_no: int, name: str) -> str:
        return ntpath.join(windows_target.round_dir(run_id, round_no), name)

    def client_argv(self, client: str, *args: str) -> list[str]:
        return windows_target.client_argv(self.python, client, *args)

    async def call_client(self, site: ClientSite, *args: str, timeout: float) -> CommandResult:
        return await windows_calls.call_client(
            site.transport,
            site.launcher,
            self.client_argv(site.client),
            args,
            run_id=site.run_id,
            timeout=timeout,
        )

    async def open_log(self, site: ClientSite, round_no: int, task: TaskHandle | None) -> Stream:
        argv = self.client_argv(site.client)
        return await windows_calls.open_log(
            site.transport, site.launcher, argv, site.run_id, round_no, task
        )

    async def read_text(self, transport: Transport, path: str) -> str | None:
        return await windows_target.read_text(transport, path)

    async def deploy(
        self, transport: Transport, artifact: ClientArtifact, shared_path: str | None
    ) -> str:
        await windows_target.prepare_root(transport)
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


def target_os(options: RunOptions, user: str | None = None) -> TargetOS:
    """Return the OS steps for a run: Linux, or Windows with its python.exe and share access.

    The python.exe defaults to `python\\python.exe` beside a UNC client (the share layout of
    `patchpilot client build --windows`), else `python.exe` on the target's PATH. The share is
    read as PATCHPILOT_SMB_USER (default: the WinRM user) with PATCHPILOT_SMB_PASSWORD
    (default: PATCHPILOT_WINRM_PASSWORD); without a password, Kerberos is tried.
    """
    if options.os == "linux":
        return LinuxOS()
    python = options.python
    if python is None and options.client_path and options.client_path.startswith("\\\\"):
        python = ntpath.join(ntpath.dirname(options.client_path), "python", "python.exe")
    smb = SMBSettings(
        username=os.environ.get(SMB_USER_ENV) or user,
        password=os.environ.get(SMB_PASSWORD_ENV) or os.environ.get(WINRM_PASSWORD_ENV),
        port=options.smb_port,
    )
    return WindowsOS(python=python or "python.exe", smb=smb)


def windows_transport(
    kind: str, host: str, port: int | None, user: str | None, options: RunOptions
) -> Transport:
    """Return WinRM (psrp) or SSH-to-Windows for a target, from the run options."""
    if kind == "psrp":
        settings = PSRPSettings(
            host,
            username=user,
            password=os.environ.get(WINRM_PASSWORD_ENV),
            port=options.winrm_port,
            ssl=options.winrm_tls,
            auth=options.winrm_auth,
            cert_validation=options.winrm_cert_validation,
        )
        return make_windows_transport("psrp", psrp=settings)
    ssh = SSHSettings(
        host=host,
        port=port,
        user=user,
        config_file=options.ssh_config,
        known_hosts=options.known_hosts,
        key_file=options.identity_file,
    )
    return make_windows_transport(kind, ssh=ssh)


def make_windows_transport(
    kind: str, *, psrp: PSRPSettings | None = None, ssh: SSHSettings | None = None
) -> Transport:
    """Return the transport called kind ("psrp" or "ssh") for a Windows target."""
    if kind == "psrp" and psrp is not None:
        return PSRPTransport(psrp)
    if kind == "ssh" and ssh is not None:
        return WindowsSSHTransport(ssh)
    raise ConfigurationError(f"a Windows target is reached by psrp or ssh, not {kind!r}")
