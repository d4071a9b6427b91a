"""Where things live on a Windows target and how the connector reads and deploys them.

The Windows counterparts of `targets/linux.py`'s POSIX paths and commands: everything under
`%ProgramData%\\patchpilot` (made SYSTEM+Administrators only by the first write), files read
and hashed by PowerShell scripts built from literals, and the two deployments:

* push: the client is copied once, content-addressed, through the transport;
* shared path: the client is on a UNC share. The connector reads it over SMB and checks its
  SHA-256 (an early, clear refusal); then a SYSTEM task copies it into the data folder
  (the task reads the share with the server's computer account: a WinRM session cannot
  reach a third machine with NTLM, the "second hop"), the connector checks the SHA-256 of
  that copy and moves it into place, and only the copy ever runs. What was checked is what
  runs, whatever happens to the share, or the SMB session that read it, later.

Either way `%ProgramData%\\patchpilot` is secured first, or the run is refused when a user
could have tampered with it (powershell.SECURE_ROOT).
"""

from __future__ import annotations

import asyncio
import contextlib
import ntpath
import re
import secrets
import time
from typing import Protocol

from patchpilot.connector.targets.base import ISOLATED, ClientArtifact
from patchpilot.errors import ConfigurationError, LaunchError, TransportError
from patchpilot.launchers.base import Launcher, TaskState
from patchpilot.transports.base import Transport
from patchpilot.transports.powershell import (
    DATA_ROOT,
    last_json,
    powershell_argv,
    prepare_root_argv,
    render,
)

__all__ = [
    "DATA_ROOT",
    "client_argv",
    "deploy_windows_client",
    "prepare_root",
    "pushed_path",
    "read_text",
    "remote_sha256",
    "round_dir",
    "script_value",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

HASH_SCRIPT = """$ErrorActionPreference = 'Stop'
$path = {{path}}
$sha = $null
if (Test-Path -LiteralPath $path -PathType Leaf) {
  $sha = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant()
}
@{ sha256 = $sha } | ConvertTo-Json -Compress
"""

READ_SCRIPT = """$ErrorActionPreference = 'Stop'
$path = {{path}}
$text = $null
if (Test-Path -LiteralPath $path -PathType Leaf) { $text = [IO.File]::ReadAllText($path) }
@{ text = $text } | ConvertTo-Json -Compress
"""


# Run as a SYSTEM task: only it can read the share (the session cannot: the second hop).
COPY_SCRIPT = """$ErrorActionPreference = 'Stop'
$from = {{from}}
$to = {{to}}
New-Item -ItemType Directory -Force -Path ([IO.Path]::GetDirectoryName($to)) | Out-Null
Copy-Item -LiteralPath $from -Destination $to -Force
"""

MOVE_SCRIPT = """$ErrorActionPreference = 'Stop'
$path = {{path}}
$to = {{to}}
Move-Item -LiteralPath $path -Destination $to -Force
@{ moved = $true } | ConvertTo-Json -Compress
"""

DISCARD_SCRIPT = """$ErrorActionPreference = 'Stop'
$copy = {{path}}
Remove-Item -LiteralPath $copy -Force -ErrorAction SilentlyContinue
@{ removed = $true } | ConvertTo-Json -Compress
"""

COPY_SECONDS = 300


class ShareVerifier(Protocol):
    """What deploy needs of an SMB share (transports.smb.SMBShare has this shape)."""

    async def verify(self, path: str, expected: str) -> None: ...


def pushed_path(sha256: str) -> str:
    """Return where a pushed client lives on the target."""
    return ntpath.join(DATA_ROOT, "client", f"patchpilot-client-{sha256[:16]}.pyz")


def round_dir(run_id: str, round_no: int) -> str:
    """Return a round's folder on the target."""
    return ntpath.join(DATA_ROOT, "runs", run_id, f"round-{round_no}")


def client_argv(python: str, client: str, *args: str) -> list[str]:
    """Return the argv running the client with the target's (or the share's) python.exe."""
    return [python, *ISOLATED, client, *args]


async def script_value(transport: Transport, template: str, path: str, key: str) -> object:
    """Run a script whose one hole is `path`; return key of the JSON it prints, None when the
    script failed or printed no such JSON."""
    argv = powershell_argv(render(template, {"path": path}))
    read = await transport.run(argv, timeout=120)
    try:
        doc = last_json(read.stdout) if read.ok else None
    except ValueError:
        return None
    return doc.get(key) if isinstance(doc, dict) else None


async def remote_sha256(transport: Transport, path: str) -> str | None:
    """Return the SHA-256 of path as the target sees it, None if absent or unreadable."""
    value = await script_value(transport, HASH_SCRIPT, path, "sha256")
    return value if isinstance(value, str) and _SHA256.fullmatch(value) else None


async def read_text(transport: Transport, path: str) -> str | None:
    """Return a text file on the target (e.g. a round's state.json), None if absent."""
    value = await script_value(transport, READ_SCRIPT, path, "text")
    return value if isinstance(value, str) else None


async def prepare_root(transport: Transport) -> None:
    """Secure %ProgramData%\\patchpilot before anything is written or launched there.

    Raise LaunchError when it is refused (a link in it, or something owned by a user), naming
    what to remove, or when the script gives no answer.
    """
    done = await transport.run(prepare_root_argv(), timeout=120)
    try:
        answer = last_json(done.stdout) if done.ok else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LaunchError(f"cannot secure {DATA_ROOT}: {done.describe()}")
    if answer.get("refused"):
        raise LaunchError(
            f"refusing to use {DATA_ROOT}: {answer['refused']}; a user may have tampered with "
            "it: remove the folder (an administrator) and run again"
        )


async def deploy_windows_client(
    transport: Transport,
    artifact: ClientArtifact,
    *,
    shared_path: str | None = None,
    share: ShareVerifier | None = None,
    launcher: Launcher | None = None,
) -> str:
    """Return the client's path on the target: a checked copy of the UNC client, or pushed.

    Raise ConfigurationError for a shared path without a share to verify it through (a
    client nobody checked is never launched), and whatever `share.verify` raises.
    """
    expected = artifact.sha256.lower()
    path = pushed_path(expected)
    if shared_path is not None:
        if share is None or launcher is None:
            raise ConfigurationError(f"{shared_path}: a UNC client is verified over SMB; no share")
        await share.verify(shared_path, expected)
        await _copy_shared(transport, launcher, shared_path, path, expected)
        return path
    if await remote_sha256(transport, path) != expected:
        await transport.put(artifact.path.read_bytes(), path)
        if await remote_sha256(transport, path) != expected:
            raise LaunchError(f"pushed client {path} does not hash to {expected}")
    return path


async def _copy_shared(
    transport: Transport, launcher: Launcher, shared_path: str, path: str, expected: str
) -> None:
    """Have a SYSTEM task copy the UNC client into the data folder; check the copy, keep it.

    Raise ConfigurationError (and delete the copy) when it does not hash to expected.
    """
    key = f"copy-{secrets.token_hex(4)}"
    copy = f"{path}.{key}"
    argv = powershell_argv(render(COPY_SCRIPT, {"from": shared_path, "to": copy}))
    handle = await launcher.launch(transport, argv, run_id=key)
    try:
        deadline = time.monotonic() + COPY_SECONDS
        while time.monotonic() < deadline:
            status = await launcher.status(transport, handle)
            if status.state in (TaskState.EXITED, TaskState.FAILED_TO_START):
                break
            await asyncio.sleep(0.5)
    finally:
        with contextlib.suppress(TransportError):
            await launcher.cleanup(transport, handle)
    found = await remote_sha256(transport, copy)
    if found != expected:
        await script_value(transport, DISCARD_SCRIPT, copy, "removed")
        raise ConfigurationError(
            f"--client-path {shared_path}: the copy on the target has SHA-256 "
            f"{found or 'unreadable'}, expected {expected}; refusing to run a different client"
        )
    moved = await transport.run(powershell_argv(render(MOVE_SCRIPT, {"path": copy, "to": path})))
    if not moved.ok:
        raise LaunchError(f"cannot put the checked client in place: {moved.describe()}")
