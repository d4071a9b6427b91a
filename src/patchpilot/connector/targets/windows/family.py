"""`WindowsOS`: the Windows steps of a run, and the transports that reach a Windows server.

Its client runs only as SYSTEM tasks (calls.py), files live under `%ProgramData%\\patchpilot`
(layout.py), reboots are proven by LastBootUpTime (probe.py). Secrets never go into the run
options (they are stored): the WinRM and share passwords come from the environment.
"""

from __future__ import annotations

import ntpath
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from patchpilot.connector.target_family import register_family
from patchpilot.connector.targets.base import (
    BootProbe,
    ClientArtifact,
    ClientSite,
    TargetOS,
)
from patchpilot.connector.targets.windows import calls, layout
from patchpilot.connector.targets.windows.options import WindowsOptions
from patchpilot.connector.targets.windows.probe import WindowsBootProbe
from patchpilot.connector.targets.windows.trust import weakening_warnings
from patchpilot.errors import ConfigurationError
from patchpilot.launchers.base import Launcher, TaskHandle
from patchpilot.protocol.windows import normalize_kb
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.smb import SMBSettings, SMBShare
from patchpilot.transports.ssh import SSHSettings
from patchpilot.transports.winssh import WindowsSSHTransport

if TYPE_CHECKING:
    from patchpilot.connector.options import RunOptions
    from patchpilot.connector.target_spec import TargetSpec
    from patchpilot.transports.psrp import PSRPSettings

__all__ = ["WindowsOS", "make_windows_transport"]

WINRM_PASSWORD_ENV = "PATCHPILOT_WINRM_PASSWORD"  # noqa: S105 - a variable name
SMB_USER_ENV = "PATCHPILOT_SMB_USER"
SMB_PASSWORD_ENV = "PATCHPILOT_SMB_PASSWORD"  # noqa: S105 - a variable name


@register_family
@dataclass
class WindowsOS(TargetOS):
    """Windows: `%ProgramData%\\patchpilot`, a python.exe, PowerShell reads, SMB-verified shares.

    python is the interpreter the task runs: the embeddable runtime on the share
    (`\\\\files\\patchpilot\\python\\python.exe`) or a local install. smb reaches the share
    holding a shared client; without it only pushed clients are possible. The client only
    ever runs as a SYSTEM task (calls.py), never in the connector's session.
    """

    python: str = "C:\\Python\\python.exe"  # always given by for_run (absolute)
    smb: SMBSettings | None = None
    launcher: str = field(default="schtasks", init=False)
    name = "windows"
    own_options = WindowsOptions  # --winrm-port, --windows-service, ...
    knows_release_dates = True  # LastDeploymentChangeTime
    launchers = ("auto", "schtasks")
    transports = ("ssh", "psrp")

    @classmethod
    def check_options(cls, options: RunOptions) -> None:
        if options.download_limit is not None:
            raise ValueError(
                "--os windows: --download-limit has no client setting there (WUA downloads "
                "through BITS, whose bandwidth Group Policy sets: docs/windows.md)"
            )
        if options.reboot == "services":
            raise ValueError(
                "--os windows: --reboot services restarts systemd units; use if-required"
            )

    @classmethod
    def warnings_for(cls, options: RunOptions) -> list[str]:
        return weakening_warnings(options.family_options(WindowsOptions))

    @classmethod
    def for_run(cls, options: RunOptions, target: TargetSpec) -> WindowsOS:
        """Return the steps for a run, with its python.exe and share access.

        The python.exe is an absolute path (ConfigurationError otherwise), never found on the
        target's PATH: `--python`, else `python\\python.exe` beside a UNC client (the share
        layout of `patchpilot client build --windows`). It runs with `-I -S`.
        The share is read as PATCHPILOT_SMB_USER (default: the WinRM user) with
        PATCHPILOT_SMB_PASSWORD (default: PATCHPILOT_WINRM_PASSWORD); without a password,
        Kerberos is tried.
        """
        python = options.python
        if python is None and options.client_path and options.client_path.startswith("\\\\"):
            python = ntpath.join(ntpath.dirname(options.client_path), "python", "python.exe")
        if python is None:
            raise ConfigurationError(
                "a Windows target needs --python C:\\...\\python.exe (the interpreter's absolute "
                "path), unless --client-path is a UNC share holding python\\python.exe"
            )
        if not ntpath.isabs(python):
            raise ConfigurationError(f"--python {python}: give the interpreter's absolute path")
        smb = SMBSettings(
            username=os.environ.get(SMB_USER_ENV) or target.user,
            password=os.environ.get(SMB_PASSWORD_ENV) or os.environ.get(WINRM_PASSWORD_ENV),
            port=options.family_options(WindowsOptions).smb_port,
        )
        return cls(python=python, smb=smb)

    @classmethod
    def normalize_entry(cls, entry: str) -> str:
        """Return a KB entry as the client's id lists and WUA's KB lists both spell it:
        "5031356" and "kb50*" become "KB5031356" and "KB50*"."""
        return normalize_kb(entry)

    def make_transport(self, target: TargetSpec, options: RunOptions) -> Transport:
        """Return WinRM (psrp) or SSH-to-Windows for target, from the run options."""
        kind = options.transport or target.transport
        if kind == "psrp":
            from patchpilot.transports.psrp import PSRPSettings  # see make_windows_transport

            windows = options.family_options(WindowsOptions)
            settings = PSRPSettings(
                target.host,
                username=target.user,
                password=os.environ.get(WINRM_PASSWORD_ENV),
                port=windows.winrm_port,
                ssl=windows.winrm_tls,
                auth=windows.winrm_auth,
                cert_validation=windows.winrm_cert_validation,
            )
            return make_windows_transport("psrp", psrp=settings)
        ssh = SSHSettings(
            host=target.host,
            port=target.port,
            user=target.user,
            config_file=options.ssh_config,
            known_hosts=options.known_hosts,
            key_file=options.identity_file,
        )
        return make_windows_transport(kind, ssh=ssh)

    def job_spec_extra(self, options: RunOptions) -> Mapping[str, object]:
        age = {} if options.min_age is None else {"min_age": options.min_age}
        search = options.family_options(WindowsOptions).search()
        return {"windows": {**search, **age}}

    def service_check(self, names: Sequence[str]) -> str:
        quoted = ",".join("'" + n.replace("'", "''") + "'" for n in names)
        return (
            f"$s = Get-Service -Name {quoted} -ErrorAction Stop | "
            "Where-Object { $_.Status -ne 'Running' }; if ($s) { $s | Out-String; exit 1 }"
        )

    def round_file(self, run_id: str, round_no: int, name: str) -> str:
        return ntpath.join(layout.round_dir(run_id, round_no), name)

    def client_argv(self, client: str, *args: str) -> list[str]:
        return layout.client_argv(self.python, client, *args)

    async def call_client(self, site: ClientSite, *args: str, timeout: float) -> CommandResult:
        return await calls.call_client(
            site.transport,
            site.launcher,
            self.client_argv(site.client),
            args,
            run_id=site.run_id,
            timeout=timeout,
        )

    async def open_log(
        self, site: ClientSite, round_no: int, task: TaskHandle | None, *, secret: str
    ) -> Stream:
        argv = self.client_argv(site.client)
        return await calls.open_log(
            site.transport, site.launcher, argv, site.run_id, round_no, task, secret=secret
        )

    async def read_text(self, transport: Transport, path: str) -> str | None:
        return await layout.read_text(transport, path)

    async def deploy(
        self,
        transport: Transport,
        artifact: ClientArtifact,
        shared_path: str | None,
        launcher: Launcher,
    ) -> str:
        await layout.prepare_root(transport)
        share = SMBShare(self.smb) if self.smb is not None and shared_path else None
        try:
            return await layout.deploy_windows_client(
                transport, artifact, shared_path=shared_path, share=share, launcher=launcher
            )
        finally:
            if share is not None:
                await share.close()

    def probe(self) -> BootProbe:
        return WindowsBootProbe()


def make_windows_transport(
    kind: str, *, psrp: PSRPSettings | None = None, ssh: SSHSettings | None = None
) -> Transport:
    """Return the transport called kind ("psrp" or "ssh") for a Windows target.

    pypsrp (with requests) is imported here, for WinRM runs only: at start-up it would cost
    every Linux run ~70 ms and ~10 MiB (docs/benchmarks.md).
    """
    if kind == "psrp" and psrp is not None:
        from patchpilot.transports.psrp import PSRPTransport

        return PSRPTransport(psrp)
    if kind == "ssh" and ssh is not None:
        return WindowsSSHTransport(ssh)
    raise ConfigurationError(f"a Windows target is reached by psrp or ssh, not {kind!r}")
