"""Lay out the folder an operator publishes as the Windows servers' client share.

`patchpilot client build --windows` writes the client zipapp, a SHA256SUMS file and
README-SHARE.txt into one folder. What patchpilot cannot ship is the Python runtime: the
operator unpacks Python's *embeddable* Windows distribution into `python\\` beside the client,
and publishes the folder read-only (see docs/windows.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from patchpilot.client_build import CLIENT_NAME, build_client

__all__ = ["SHARE_README", "WindowsShare", "lay_out_share"]

SHARE_README = """patchpilot client share
=======================

This folder is run by every Windows server that patchpilot patches, as SYSTEM. Whoever can
write to it can run code as SYSTEM on all of them. Publish it READ-ONLY for the servers'
computer accounts (e.g. "Domain Computers": Read & execute) and writable only by the
administrators who maintain it, on both the share permissions and the NTFS ACL.

What is here
  {client}      the client; the connector checks its SHA-256 before every launch
  SHA256SUMS    the expected hash of the client (sha256sum -c SHA256SUMS)

What you must add
  python\\       Python's embeddable Windows package (python-3.X.Y-embed-amd64.zip from
                python.org), unzipped here, so that python\\python.exe exists.
                3.9 or newer; nothing else needs installing on the servers.
                Record its hashes too (Get-FileHash python\\*) and keep them with this file:
                patchpilot does not verify the runtime.

How it is used
  Before each launch the connector reads {client} from this share over SMB and refuses
  to launch it unless its SHA-256 is the one in SHA256SUMS. The scheduled task then runs
      \\\\FILESERVER\\SHARE\\python\\python.exe \\\\FILESERVER\\SHARE\\{client} run --job <job file>
  See docs/windows.md in the patchpilot sources.
"""


@dataclass(frozen=True)
class WindowsShare:
    folder: Path
    client: Path
    sha256: str


def lay_out_share(folder: Path) -> WindowsShare:
    """Write the client, SHA256SUMS and README-SHARE.txt into folder; return what was built."""
    built = build_client(folder)
    (folder / "SHA256SUMS").write_text(f"{built.sha256}  {CLIENT_NAME}\n", encoding="ascii")
    readme = SHARE_README.format(client=CLIENT_NAME).replace("\n", "\r\n")
    (folder / "README-SHARE.txt").write_text(readme, encoding="utf-8", newline="")
    return WindowsShare(folder, built.path, built.sha256)
