"""The transport seam: how the connector reaches a target.

A transport runs a command (argument list, never a shell string), puts a file, and opens a
byte stream to a command's stdin/stdout (used to reach the client's log endpoint through
`patchpilot-client attach`). Implementations: `ssh.py` (asyncssh), `local.py`, `psrp.py`,
and `fake.py` (a test double driven by a handler function).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CommandResult", "Stream", "Transport"]


@dataclass(frozen=True)
class CommandResult:
    """What a remote command did, like subprocess.CompletedProcess."""

    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str
    duration: float
    exit_signal: str | None = None  # how it ended when not by exit() (SIGKILL...), if known

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def describe(self) -> str:
        """Return what the target said about a failure: status or signal, stderr, stdout."""
        how = f"exit status {self.exit_status}"
        how += f" ({self.exit_signal})" if self.exit_signal else ""
        said = [
            f"{name}: {text.strip()}"
            for name, text in (("stderr", self.stderr), ("stdout", self.stdout))
            if text.strip()
        ]
        return "; ".join([how, *said]) if said else f"{how}, no output"


class Stream(abc.ABC):
    """A bidirectional byte stream to a remote process (its stdin and stdout)."""

    @abc.abstractmethod
    async def read(self, n: int = 65536) -> bytes:
        """Return up to n bytes; b"" at end of stream."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class Transport(abc.ABC):
    """One connection to one target. Use as `async with transport:`."""

    name: str = "base"

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> CommandResult:
        """Run argv on the target; raise TransportTimeout after timeout seconds.

        With check=True a non-zero exit raises TransportError carrying stderr.
        """

    @abc.abstractmethod
    async def put(self, data: bytes, path: str, *, mode: int = 0o600) -> None:
        """Write data to path on the target atomically, with mode."""

    @abc.abstractmethod
    async def open_stream(self, argv: Sequence[str]) -> Stream:
        """Start argv on the target and return a stream to its stdin/stdout."""

    async def __aenter__(self) -> Transport:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
