"""Client commands and the round's log on Windows, with no client run in the remote session.

The connector's WinRM or SSH session is a network logon. It cannot read a UNC share on a
third machine with NTLM (the "second hop"), and WUA refuses its token. So on Windows the
client runs only as SYSTEM tasks, which read the share with the server's computer account:

* `call_client`: lock, unlock and scan run as a one-time task with `--output FILE` (task
  and file named anew for each call, so a task or answer left by an interrupted call is
  never taken for this one's); the connector waits for that file, reads and deletes it, and
  removes the task.
* `open_log`: a PowerShell relay in the session copies bytes between its stdin/stdout and
  the round's named pipe, waiting for a starting client to open it. When no client serves
  the pipe and the round's task no longer runs (the client exited, or the server
  rebooted), a task runs `attach --listen` to serve the journal from disk on the pipe, for
  that one connection.

The journal protocol, proofs included, runs end to end between the connector and the client
either way; the relay only moves bytes. It opens the pipe for overlapped I/O (a synchronous
pipe handle serialises the two directions, and the handshake would deadlock) at
identification level (a process that squatted the pipe's name cannot impersonate the
connector's administrator), and relays only to a pipe owned by SYSTEM or Administrators.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ntpath
import secrets
import time
from collections.abc import Sequence

from patchpilot.connector.targets.windows.layout import script_value
from patchpilot.errors import LaunchError, TransportError, TransportTimeout
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState
from patchpilot.protocol.windows import pipe_name
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.powershell import DATA_ROOT, PsValue, powershell_argv, render

__all__ = ["CALLS_DIR", "answer_path", "call_client", "open_log"]

CALLS_DIR = ntpath.join(DATA_ROOT, "calls")
LISTEN_SECONDS = 60  # how long an `attach --listen` task waits for the relay to connect
RELAY_WAIT_SECONDS = 60  # how long the relay waits for the pipe to appear
_POLL_SECONDS = 0.5
_UNKNOWN_LIMIT = 3  # status reads that find no task (or fail) before the task counts as gone

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
# A pipe name .NET finds illegal makes the listing throw: then "unknown" (null).
PIPE_LIVE_SCRIPT = """$ErrorActionPreference = 'Stop'
$path = {{path}}
try {
  $live = @([IO.Directory]::GetFiles('\\\\.\\pipe\\') | Where-Object { $_ -eq $path }).Count -gt 0
} catch { $live = $null }
@{ live = $live } | ConvertTo-Json -Compress
"""

RELAY_SCRIPT = """$ErrorActionPreference = 'Stop'
$name = {{name}}
$identify = [Security.Principal.TokenImpersonationLevel]::Identification
$pipe = New-Object IO.Pipes.NamedPipeClientStream('.', $name, [IO.Pipes.PipeDirection]::InOut,
  [IO.Pipes.PipeOptions]::Asynchronous, $identify)
try { $pipe.Connect({{wait_ms}}) } catch {
  [Console]::Error.WriteLine('no log endpoint ' + $name + ': ' + $_.Exception.Message)
  exit 3
}
$owner = $pipe.GetAccessControl().GetOwner([Security.Principal.SecurityIdentifier]).Value
if (@('S-1-5-18', 'S-1-5-32-544') -notcontains $owner) {
  $pipe.Dispose()
  [Console]::Error.WriteLine('refusing ' + $name + ': owned by ' + $owner + ', not SYSTEM')
  exit 4
}
$stdin = [Console]::OpenStandardInput()
$stdout = [Console]::OpenStandardOutput()
$up = $stdin.CopyToAsync($pipe)
$down = $pipe.CopyToAsync($stdout)
[void][Threading.Tasks.Task]::WaitAny([Threading.Tasks.Task[]]@($up, $down))
$pipe.Dispose()
exit 0
"""


def answer_path(key: str) -> str:
    """Return where the task of one call writes its answer (`--output`)."""
    return ntpath.join(CALLS_DIR, f"{key}.json")


async def _take(transport: Transport, path: str) -> str | None:
    """Return the answer file's text and delete it; None while it is not there."""
    text = await script_value(transport, TAKE_SCRIPT, path, "text")
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
    client_argv: Sequence[str],
    args: Sequence[str],
    *,
    run_id: str,
    timeout: float,
) -> CommandResult:
    """Run the client command args (verb first) as a SYSTEM task; return its answer.

    client_argv is (python, client). Raise LaunchError when the task cannot start,
    TransportTimeout after timeout seconds. A task that ends without an answer gives a
    failed CommandResult saying so.
    """
    key = f"{run_id}-{args[0]}-{secrets.token_hex(4)}"
    command = [*client_argv, *args, "--output", answer_path(key)]
    started = time.monotonic()
    handle = await launcher.launch(transport, command, run_id=key)
    try:
        async with asyncio.timeout(timeout):
            return await _await_answer(transport, launcher, handle, command, started)
    except TimeoutError as exc:
        raise TransportTimeout(f"{args[0]} did not answer in {timeout:g} s") from exc
    finally:
        with contextlib.suppress(TransportError):  # a task left behind ends by itself
            await launcher.cleanup(transport, handle)


async def _await_answer(
    transport: Transport,
    launcher: Launcher,
    handle: TaskHandle,
    command: Sequence[str],
    started: float,
) -> CommandResult:
    path, unknown = command[-1], 0
    while True:
        await asyncio.sleep(_POLL_SECONDS)  # the client needs that long to start anyway
        text = await _take(transport, path)
        if text is not None:
            return _answer(command, text, started)
        status = await launcher.status(transport, handle)
        if status.state is TaskState.FAILED_TO_START:
            raise LaunchError(f"the client did not start: {status.detail}")
        unknown = unknown + 1 if status.state is TaskState.UNKNOWN else 0
        if status.state is TaskState.EXITED or unknown >= _UNKNOWN_LIMIT:
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
    if await script_value(transport, PIPE_LIVE_SCRIPT, path, "live") is True:
        return True
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
    *,
    secret: str,
) -> Stream:
    """Open a byte stream to the round's named pipe through a PowerShell relay.

    client_argv (python, client) starts `attach --listen` as a SYSTEM task when no client
    serves the pipe and the round's task (if known) is not running either: a second server
    on the pipe must never race a starting client.
    """
    path = pipe_name(run_id, round_no, secret)
    values: dict[str, PsValue] = {
        "name": ntpath.basename(path),
        "wait_ms": RELAY_WAIT_SECONDS * 1000,
    }
    relay = powershell_argv(render(RELAY_SCRIPT, values))
    if await _client_is_up(transport, launcher, path, task):
        return await transport.open_stream(relay)
    serve = [*client_argv, "attach", "--run", run_id, "--round", str(round_no)]
    handle = await launcher.launch(
        transport, [*serve, "--listen", str(LISTEN_SECONDS)], run_id=f"{run_id}-a{round_no}"
    )
    try:
        stream = await transport.open_stream(relay)
    except BaseException:  # failed or cancelled: the task must not outlive this attempt
        with contextlib.suppress(TransportError):
            await launcher.cleanup(transport, handle)
        raise
    return _TaskStream(stream, transport, launcher, handle)
