"""SMB access to Windows targets and shares through smbprotocol: verify or copy the client.

Two deployments use it. *Shared path* (recommended for many servers): the client lives on a
UNC share that the servers read; before launching, the connector reads that very file over
SMB and refuses the run unless its SHA-256 is the client it expects. *Push*: the client is
copied to the target's administrative share (`\\\\host\\C$\\ProgramData\\...`), written to a
temporary name and renamed, so a reader never sees half a file.

SMB cannot run commands, so this is not a `Transport`; it sits beside one. smbprotocol's
exceptions are translated here and nowhere else. Each `SMBShare` keeps its own connection
cache, closed by `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ntpath
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import smbclient
from smbprotocol import exceptions as smb_errors

from patchpilot.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    TransportError,
)

__all__ = ["SMBSettings", "SMBShare", "admin_share_path", "split_unc"]

_CHUNK = 1024 * 1024
_UNC = re.compile(r"^\\\\([^\\/]+)\\([^\\/]+)(\\.*)?$")
_DRIVE = re.compile(r"^([A-Za-z]):\\(.*)$")
T = TypeVar("T")


@dataclass(frozen=True)
class SMBSettings:
    """How to reach SMB servers: credentials, port, encryption."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int = 445
    encrypt: bool = True
    timeout: float = 30.0


def split_unc(path: str) -> tuple[str, str]:
    """Return (server, share) of a UNC path `\\\\server\\share\\...`; raise ConfigurationError."""
    match = _UNC.match(path.replace("/", "\\"))
    if match is None:
        raise ConfigurationError(f"not a UNC path (\\\\server\\share\\file): {path!r}")
    return match.group(1), match.group(2)


def admin_share_path(host: str, windows_path: str) -> str:
    """Return the administrative-share UNC path of a local path: C:\\x -> \\\\host\\C$\\x."""
    match = _DRIVE.match(windows_path)
    if match is None:
        raise ConfigurationError(f"not an absolute Windows path: {windows_path!r}")
    return f"\\\\{host}\\{match.group(1).upper()}$\\{match.group(2)}"


def _translate(exc: Exception, what: str) -> TransportError:
    if isinstance(exc, smb_errors.LogonFailure | smb_errors.SMBAuthenticationError):
        return AuthenticationError(f"SMB logon refused for {what}: {exc}")
    if isinstance(exc, smb_errors.SMBException | OSError | ValueError):
        if isinstance(exc, ConnectionError | TimeoutError) or "connect" in str(exc).lower():
            return ConnectError(f"cannot reach {what} over SMB: {exc}")
        return TransportError(f"SMB error on {what}: {exc}")
    return TransportError(f"SMB error on {what}: {exc!r}")


class SMBShare:
    """Files on SMB shares, read and written with one set of credentials."""

    def __init__(self, settings: SMBSettings) -> None:
        self._settings = settings
        self._cache: dict[str, Any] = {}

    async def sha256(self, path: str) -> str:
        """Return the SHA-256 (hex) of the file at a UNC path, read over SMB."""
        return await self._call(path, lambda: self._hash(path))

    async def verify(self, path: str, expected: str) -> None:
        """Refuse (ConfigurationError) a shared client whose SHA-256 is not expected."""
        found = await self.sha256(path)
        if found != expected.lower():
            raise ConfigurationError(
                f"the client at {path} has SHA-256 {found}, not the expected {expected.lower()}:"
                " refusing to launch it (rebuild the share with `patchpilot client build`)"
            )

    async def read(self, path: str) -> bytes:
        """Return the whole file at a UNC path."""
        return await self._call(path, lambda: self._read(path))

    async def copy(self, data: bytes, path: str) -> None:
        """Write data to a UNC path atomically: a temporary name in the folder, then a rename."""
        await self._call(path, lambda: self._write(data, path))

    async def close(self) -> None:
        """Drop this share's connections."""
        await asyncio.to_thread(smbclient.reset_connection_cache, connection_cache=self._cache)

    async def _call(self, path: str, work: Callable[[], T]) -> T:
        server, _ = split_unc(path)

        def run() -> T:
            self._register(server)
            return work()

        try:
            return await asyncio.wait_for(asyncio.to_thread(run), self._settings.timeout * 4)
        except TimeoutError as exc:
            raise ConnectError(f"SMB operation on {path} timed out") from exc
        except (smb_errors.SMBException, OSError, ValueError) as exc:
            raise _translate(exc, path) from exc

    def _register(self, server: str) -> None:
        s = self._settings
        smbclient.register_session(
            server,
            username=s.username,
            password=s.password,
            port=s.port,
            encrypt=s.encrypt,
            connection_timeout=int(s.timeout),
            connection_cache=self._cache,
        )

    def _kwargs(self) -> dict[str, Any]:
        return {"port": self._settings.port, "connection_cache": self._cache}

    def _hash(self, path: str) -> str:
        digest = hashlib.sha256()
        with smbclient.open_file(path, mode="rb", **self._kwargs()) as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def _read(self, path: str) -> bytes:
        with smbclient.open_file(path, mode="rb", **self._kwargs()) as handle:
            data: bytes = handle.read()
        return data

    def _write(self, data: bytes, path: str) -> None:
        folder = ntpath.dirname(path)
        smbclient.makedirs(folder, exist_ok=True, **self._kwargs())
        temporary = f"{path}.tmp-{secrets.token_hex(4)}"
        try:
            with smbclient.open_file(temporary, mode="wb", **self._kwargs()) as handle:
                handle.write(data)
            smbclient.replace(temporary, path, **self._kwargs())
        except BaseException:
            # The first error is the one to report; a leftover temporary is only untidy.
            with contextlib.suppress(smb_errors.SMBException, OSError):
                smbclient.remove(temporary, **self._kwargs())
            raise
