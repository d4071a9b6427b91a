"""Client commands and the round's log on Windows, with no client run in the remote session.

The connector's WinRM or SSH session is a network logon. It cannot read a UNC share on a
third machine with NTLM (the "second hop"), and WUA refuses its token. So on Windows the
client runs only as SYSTEM tasks, which read the share with the server's computer account:

* `call_client`: lock, unlock and scan run as a one-time task with `--output FILE` (a new
  file name per call, so an answer left by an interrupted call is never taken for this
  one's); the connector waits for that file, reads and deletes it, and removes the task.
* `open_log`: a PowerShell relay in the session copies bytes between its stdin/stdout and
  the round's named pipe, waiting for a starting client to open it. When no client serves
  the pipe and the round's task no longer runs (the client exited, or the server
  rebooted), a task runs `attach --listen` to serve the journal from disk on the pipe, for
  that one connection.

The journal protocol, proofs included, runs end to end between the connector and the client
either way; the relay only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ntpath
import secrets
import time
from collections.abc import Sequence

from patchpilot.client.endpoints.pipe import pipe_name
from patchpilot.errors import LaunchError, TransportError, TransportTimeout
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.powershell import (
    DATA_ROOT,
    PsValue,
    last_json,
    powershell_argv,
    render,
)

__all__ = ["CALLS_DIR", "LISTEN_SECONDS", "answer_path", "call_client", "open_log"]

CALLS_DIR = ntpath.join(DATA_ROOT, "calls")
LISTEN_SECONDS = 60  # how long an `attach --listen` task waits for the relay
_POLL_SECONDS = 0.5

TAKE_SCRIPT = """$ErrorActionPreference = 'Stop'
$path = {{path}}
$text = $null
if (Test-Path -LiteralPath $path -PathType Leaf) {
  $text = [IO.File]::ReadAllText($path)
  Remove-Item -LiteralPath $path -Force
}
@{ text = $text } | ConvertTo-Json -Compress
"""

# Lists the pipes rather than opening ours: opening would take the server's pipe instance.
PIPE_LIVE_SCRIPT = """$ErrorActionPreference = 'Stop'
$path = {{path}}
$live = @([IO.Directory]::GetFiles('\\\\.\\pipe\\') | Where-Object { $_ -eq $path }).Count -gt 0
@{ live = $live } | ConvertTo-Json -Compress
"""

RELAY_SCRIPT = """$ErrorActionPreference = 'Stop'
$name = {{name}}
$direction = [IO.Pipes.PipeDirection]::InOut
$pipe = New-Object IO.Pipes.NamedPipeClientStream('.', $name, $direction)
try { $pipe.Connect({{wait_ms}}) } catch {
  [Console]::Error.WriteLine('no log endpoint ' + $name + ': ' + $_.Exception.Message)
  exit 3
}
$stdin = [Console]::OpenStandardInput()
$stdout = [Console]::OpenStandardOutput()
$up = $stdin.CopyToAsync($pipe)
$down = $pipe.CopyToAsync($stdout)
[void][Threading.Tasks.Task]::WaitAny([Threading.Tasks.Task[]]@($up, $down))
$pipe.Dispose()
exit 0
"""


def answer_path(key: str, nonce: str) -> str:
    """Return where one call's task writes its answer (`--output`)."""
    return ntpath.join(CALLS_DIR, f"{key}-{nonce}.json")


async def _take(transport: Transport, path: str) -> str | None:
    """Return the answer file's text and delete it; None while it is not there."""
    read = await transport.run(powershell_argv(render(TAKE_SCRIPT, {"path": path})), timeout=60)
    try:
        doc = last_json(read.stdout) if read.ok else None
    except ValueError:
        return None
    text = doc.get("text") if isinstance(doc, dict) else None
    return text if isinstance(text, str) else None


def _answer(argv: Sequence[str], text: str, started: float) -> CommandResult:
    """Return the CommandResult a task's answer file describes."""
    try:
        doc = json.loads(text)
        exit_status, stdout, stderr = int(doc["exit"]), str(doc["stdout"]), str(doc["stderr"])
    except (ValueError, TypeError, KeyError) as exc:
        raise LaunchError(f"the client's answer is malformed: {text[:200]!r}") from exc
    return CommandResult(tuple(argv), exit_status, stdout, stderr, time.monotonic() - started)


async def call_client(
    transport: Transport,
    launcher: Launcher,
    argv: Sequence[str],
    *,
    key: str,
    timeout: float,
) -> CommandResult:
    """Run a client command (argv: python, client, verb, ...) as a SYSTEM task; return its answer.

    Raise LaunchError when the task cannot start, TransportTimeout after timeout seconds.
    A task that ends without an answer gives a failed CommandResult saying so.
    """
    command = [*argv, "--output", answer_path(key, secrets.token_hex(4))]
    started = time.monotonic()
    handle = await launcher.launch(transport, command, run_id=key)
    try:
        async with asyncio.timeout(timeout):
            return await _await_answer(transport, launcher, handle, command, started)
    except TimeoutError as exc:
        raise TransportTimeout(f"{argv[2]} did not answer in {timeout:g} s") from exc
    finally:
        with contextlib.suppress(TransportError):  # a left task is replaced by the next call
            await launcher.cleanup(transport, handle)


async def _await_answer(
    transport: Transport,
    launcher: Launcher,
    handle: TaskHandle,
    command: Sequence[str],
    started: float,
) -> CommandResult:
    path = command[-1]
    while True:
        await asyncio.sleep(_POLL_SECONDS)  # the client needs that long to start anyway
        text = await _take(transport, path)
        if text is not None:
            return _answer(command, text, started)
        status = await launcher.status(transport, handle)
        if status.state is TaskState.FAILED_TO_START:
            raise LaunchError(f"the client did not start: {status.detail}")
        if status.state in (TaskState.EXITED, TaskState.UNKNOWN):
            text = await _take(transport, path)  # it may have answered just before exiting
            if text is not None:
                return _answer(command, text, started)
            why = f"the task ended without an answer ({status.detail})"
            code = status.exit_status if status.exit_status else 255
            return CommandResult(tuple(command), code, "", why, time.monotonic() - started)


class _TaskStream(Stream):
    """A relay stream that removes the `attach --listen` task behind it when closed."""

    def __init__(
        self, stream: Stream, transport: Transport, launcher: Launcher, handle: TaskHandle
    ) -> None:
        self._stream, self._transport = stream, transport
        self._launcher, self._handle = launcher, handle

    async def read(self, n: int = 65536) -> bytes:
        return await self._stream.read(n)

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            with contextlib.suppress(TransportError):
                await self._launcher.cleanup(self._transport, self._handle)


async def _client_is_up(
    transport: Transport, launcher: Launcher, path: str, task: TaskHandle | None
) -> bool:
    """Tell whether a client serves the pipe, or its task runs (and will open it soon)."""
    probe = await transport.run(
        powershell_argv(render(PIPE_LIVE_SCRIPT, {"path": path})), timeout=60
    )
    try:
        if probe.ok and last_json(probe.stdout).get("live"):
            return True
    except (ValueError, AttributeError):
        pass
    if task is None:
        return False
    status = await launcher.status(transport, task)
    return status.state in (TaskState.QUEUED, TaskState.RUNNING)


async def open_log(
    transport: Transport,
    launcher: Launcher,
    client_argv: Sequence[str],
    run_id: str,
    round_no: int,
    task: TaskHandle | None,
) -> Stream:
    """Open a byte stream to the round's named pipe through a PowerShell relay.

    client_argv (python, client) starts `attach --listen` as a SYSTEM task when no client
    serves the pipe and the round's task (if known) is not running either: a second server
    on the pipe must never race a starting client.
    """
    path = pipe_name(run_id, round_no)
    handle = None
    if not await _client_is_up(transport, launcher, path, task):
        serve = [*client_argv, "attach", "--run", run_id, "--round", str(round_no)]
        serve += ["--listen", str(LISTEN_SECONDS)]
        handle = await launcher.launch(transport, serve, run_id=f"{run_id}-a{round_no}")
    values: dict[str, PsValue] = {"name": ntpath.basename(path), "wait_ms": LISTEN_SECONDS * 1000}
    stream = await transport.open_stream(powershell_argv(render(RELAY_SCRIPT, values)))
    return stream if handle is None else _TaskStream(stream, transport, launcher, handle)
