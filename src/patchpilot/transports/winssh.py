"""SSH to Windows' own OpenSSH server: the SSH transport with Windows command lines.

Windows OpenSSH hands the command line to its default shell (cmd.exe, or PowerShell when
`DefaultShell` is set), so POSIX quoting means nothing there. This transport sends only inert
tokens (`powershell.windows_argv`: a PowerShell `-EncodedCommand` whenever quoting would be
needed), never sudo, and writes files with the same PowerShell script as WinRM.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from patchpilot.transports.powershell import windows_argv, write_file_argv
from patchpilot.transports.ssh import SSHTransport

__all__ = ["WindowsSSHTransport"]


class WindowsSSHTransport(SSHTransport):
    """An SSH connection to a Windows target."""

    name = "ssh-windows"

    def _command(self, argv: Sequence[str]) -> str:
        return " ".join(windows_argv(argv))

    async def put(self, data: bytes, path: str, *, mode: int = 0o600) -> None:
        """Write data to path under %ProgramData%\\patchpilot; the ACL is SYSTEM+Admins."""
        await self.run(write_file_argv(path), input=base64.b64encode(data), check=True)
