"""The local transport: the connector runs on the target itself (subprocesses, no network)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from patchpilot.errors import TransportError, TransportTimeout
from patchpilot.transports import quoting
from patchpilot.transports.base import CommandResult, Stream, Transport

__all__ = ["LocalSettings", "LocalTransport", "ProcessStream"]


@dataclass(frozen=True)
class LocalSettings:
    """Settings of the local transport; use_sudo runs commands through `sudo -n`."""

    use_sudo: bool = False


class ProcessStream(Stream):
    """A stream to a local subprocess's stdin and stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def read(self, n: int = 65536) -> bytes:
        assert self._process.stdout is not None
        return await self._process.stdout.read(n)

    async def write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise TransportError(f"stream closed: {exc}") from exc

    async def close(self) -> None:
        if self._process.returncode is None:
            self._process.kill()
        await self._process.wait()


class LocalTransport(Transport):
    """Run commands on this machine."""

    name = "local"

    def __init__(self, settings: LocalSettings | None = None) -> None:
        self.settings = settings or LocalSettings()

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return quoting.sudo_wrap(argv) if self.settings.use_sudo else list(argv)

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> CommandResult:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *self._argv(argv),
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(input), timeout)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise TransportTimeout(f"{argv[0]} timed out after {timeout:g} s") from exc
        result = CommandResult(
            tuple(argv),
            process.returncode if process.returncode is not None else -1,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            time.monotonic() - started,
        )
        return check_result(result) if check else result

    async def put(self, data: bytes, path: str, *, mode: int = 0o600) -> None:
        await self.run(quoting.atomic_write_script(path, mode), input=data, check=True)

    async def open_stream(self, argv: Sequence[str]) -> Stream:
        process = await asyncio.create_subprocess_exec(
            *self._argv(argv),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return ProcessStream(process)


def check_result(result: CommandResult) -> CommandResult:
    """Return result, or raise TransportError naming the command and its stderr."""
    if not result.ok:
        detail = result.stderr.strip().splitlines()[-1:] or [""]
        raise TransportError(
            f"{result.argv[0]} exited with status {result.exit_status}: {detail[0]}".rstrip(": ")
        )
    return result
