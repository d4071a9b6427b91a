"""The local transport: the connector runs on the target itself (subprocesses, no network)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from patchpilot.errors import TransportError, TransportTimeout
from patchpilot.transports import quoting
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.limits import CHUNK, MAX_OUTPUT, all_or_none, read_capped

__all__ = ["LocalSettings", "LocalTransport", "ProcessStream"]


@dataclass(frozen=True)
class LocalSettings:
    """Settings of the local transport; use_sudo runs commands through `sudo -n`."""

    use_sudo: bool = False
    max_output: int = MAX_OUTPUT  # bytes of stdout (and of stderr) a command may return


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
            start_new_session=True,  # its own process group: _stop ends its children too
        )
        try:
            out, err = await asyncio.wait_for(self._bounded(process, argv, input), timeout)
        except BaseException as exc:  # a timeout, too much output, a cancelled run
            await _stop(process)
            if isinstance(exc, TimeoutError):
                raise TransportTimeout(f"{argv[0]} timed out after {timeout:g} s") from exc
            raise
        result = CommandResult(
            tuple(argv),
            process.returncode if process.returncode is not None else -1,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            time.monotonic() - started,
        )
        return check_result(result) if check else result

    async def _bounded(
        self, process: asyncio.subprocess.Process, argv: Sequence[str], input: bytes | None
    ) -> tuple[bytes, bytes]:
        """Feed input, read stdout and stderr up to the bound each, and wait for the exit."""
        assert process.stdout is not None and process.stderr is not None
        limit = self.settings.max_output
        out, err, _ = await all_or_none(
            read_capped(process.stdout.read, limit, argv, "output"),
            read_capped(process.stderr.read, limit, argv, "error output"),
            _feed(process, input),
        )
        await process.wait()
        return out, err

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


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill a command's whole process group, then read its pipes to their end and reap it.

    A child of the command (`sh -c 'yes | head'`) may hold the pipes open: killing the group
    closes them, so asyncio sees the end of both pipes and the exit (it waits for both).
    """
    if process.returncode is None:  # else its pid (the group's id) may be someone else's now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    for pipe in (process.stdout, process.stderr):
        with contextlib.suppress(TimeoutError, OSError):
            while pipe is not None:
                if not await asyncio.wait_for(pipe.read(CHUNK), 5):
                    break
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 5)


async def _feed(process: asyncio.subprocess.Process, data: bytes | None) -> None:
    """Write data to the process's stdin and close it, while its output is being read."""
    if data is None or process.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it stopped reading:
        process.stdin.write(data)  # its exit status says how it went
        await process.stdin.drain()
    process.stdin.close()


def check_result(result: CommandResult) -> CommandResult:
    """Return result, or raise TransportError naming the command and its stderr."""
    if not result.ok:
        detail = result.stderr.strip().splitlines()[-1:] or [""]
        raise TransportError(
            f"{result.argv[0]} exited with status {result.exit_status}: {detail[0]}".rstrip(": ")
        )
    return result
