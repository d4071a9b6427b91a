"""Getting the client onto the target: push it once, content-addressed, or verify a shared path.

Pushed clients live at `/var/lib/patchpilot/client/patchpilot-client-<sha256[:16]>.pyz` and
are reused while their SHA-256 matches. With `--client-path` nothing is copied: the file the
target sees must hash to the client this connector expects, or the run is refused.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Protocol

from patchpilot.errors import ConfigurationError, LaunchError
from patchpilot.transports.base import Transport

__all__ = [
    "CLIENT_DIR",
    "PYTHON",
    "ClientArtifact",
    "client_argv",
    "deploy_client",
    "parse_sha256sum",
    "pushed_path",
    "round_dir",
]

CLIENT_DIR = "/var/lib/patchpilot/client"
RUNS_DIR = "/var/lib/patchpilot/runs"
PYTHON = "python3"


class ClientArtifact(Protocol):
    """A built client zipapp (patchpilot.client_build.BuiltClient has this shape)."""

    @property
    def path(self) -> Path: ...

    @property
    def sha256(self) -> str: ...


def pushed_path(sha256: str) -> str:
    return f"{CLIENT_DIR}/patchpilot-client-{sha256[:16]}.pyz"


def round_dir(run_id: str, round_no: int) -> str:
    return posixpath.join(RUNS_DIR, run_id, f"round-{round_no}")


def client_argv(client: str, *args: str) -> list[str]:
    """Return the argv that runs the client zipapp with args on the target."""
    return [PYTHON, client, *args]


def parse_sha256sum(exit_status: int, stdout: str) -> str | None:
    """Return the digest from `sha256sum FILE` output, or None if the file was not read."""
    words = stdout.split()
    if exit_status != 0 or not words or len(words[0]) != 64:
        return None
    return words[0].lower()


async def _remote_sha256(transport: Transport, path: str) -> str | None:
    read = await transport.run(["sha256sum", path], timeout=60)
    return parse_sha256sum(read.exit_status, read.stdout)


async def deploy_client(
    transport: Transport, artifact: ClientArtifact, *, shared_path: str | None = None
) -> str:
    """Return the client's path on the target, pushing it only if it is not there yet.

    Raise ConfigurationError when a shared client does not match the expected SHA-256.
    """
    expected = artifact.sha256.lower()
    if shared_path is not None:
        found = await _remote_sha256(transport, shared_path)
        if found != expected:
            raise ConfigurationError(
                f"--client-path {shared_path}: SHA-256 is {found or 'unreadable'}, expected "
                f"{expected} (this connector's client); refusing to run a different client"
            )
        return shared_path
    path = pushed_path(expected)
    if await _remote_sha256(transport, path) != expected:
        await transport.put(artifact.path.read_bytes(), path, mode=0o600)
        if await _remote_sha256(transport, path) != expected:
            raise LaunchError(f"pushed client {path} does not hash to {expected}")
    return path
