"""The WinRM and Windows-SSH transports over pypsrp-shaped fakes: argv, input, files, errors."""

from __future__ import annotations

import base64
import shlex
from typing import Any

import pytest
import requests
from pypsrp import exceptions as psrp_errors
from pypsrp.shell import CommandState, SignalCode

from patchpilot.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    OutputLimitError,
    TransportTimeout,
)
from patchpilot.transports.powershell import (
    DATA_ROOT,
    native_call,
    split_literals,
    windows_argv,
    write_file_argv,
)
from patchpilot.transports.psrp import PSRPSettings, PSRPTransport
from patchpilot.transports.ssh import SSHSettings
from patchpilot.transports.winssh import WindowsSSHTransport

Handler = Any


class FakeShell:
    """pypsrp.shell.WinRS as the transport uses it."""

    def __init__(self, handler: Handler, fail_open: Exception | None = None) -> None:
        self.handler = handler
        self.fail_open = fail_open
        self.processes: list[FakeProcess] = []
        self.closed = False

    def open(self) -> None:
        if self.fail_open:
            raise self.fail_open

    def close(self) -> None:
        self.closed = True


class FakeProcess:
    """pypsrp.shell.Process: state, rc, stdout/stderr buffers, begin/poll/send/signal."""

    def __init__(self, shell: FakeShell, executable: str, arguments: list[str]) -> None:
        self.shell, self.argv = shell, [executable, *arguments]
        self.state, self.rc = "Pending", None
        self.stdout = self.stderr = b""
        self.stdin = b""
        self.sends: list[tuple[int, bool]] = []
        self.ended = False
        self.signals: list[str] = []
        shell.processes.append(self)

    def begin_invoke(self) -> None:
        self.state = "Running"

    def send(self, data: bytes, end: bool = True) -> None:
        self.stdin += data
        self.sends.append((len(data), end))
        self.ended = self.ended or end

    def poll_invoke(self, timeout: int | None = None) -> None:
        self.shell.handler(self)

    def signal(self, code: str) -> None:
        self.signals.append(code)


def transport_for(
    handler: Handler, max_output: int | None = None, **kwargs: Any
) -> tuple[PSRPTransport, FakeShell]:
    shell = FakeShell(handler, **kwargs)
    bound = {} if max_output is None else {"max_output": max_output}
    transport = PSRPTransport(
        PSRPSettings("srv1.example", username="EXAMPLE\\patch", password="pw", **bound),
        new_shell=lambda settings: shell,
        new_process=FakeProcess,
    )
    return transport, shell


def finish(rc: int, out: bytes = b"", err: bytes = b"") -> Handler:
    def handler(process: FakeProcess) -> None:
        process.state, process.rc = (
            CommandState.DONE,
            rc,
        )
        process.stdout, process.stderr = out, err

    return handler


def decoded(argv: list[str]) -> str:
    assert argv[5] == "-EncodedCommand"
    return base64.b64decode(argv[6]).decode("utf-16-le")


async def test_inert_argv_runs_as_is() -> None:
    transport, shell = transport_for(finish(0, b"ok\r\n"))
    result = await transport.run(["whoami.exe", "/all"])
    assert result.ok and result.stdout == "ok\r\n"
    assert shell.processes[0].argv == ["whoami.exe", "/all"]


def test_a_trailing_line_break_is_not_inert() -> None:
    assert windows_argv(["whoami.exe", "/all\n"])[5] == "-EncodedCommand"


async def test_argv_needing_quotes_goes_through_powershell_literals() -> None:
    transport, shell = transport_for(finish(3))
    argv = ["C:\\Program Files\\Python312\\python.exe", "x.pyz", "lock", "--run", "a'b & c"]
    result = await transport.run(argv)
    assert result.exit_status == 3
    sent = shell.processes[0].argv
    assert all(token.isascii() and " " not in token for token in sent)
    skeleton, literals = split_literals(decoded(sent))
    assert skeleton == "& '' '' '' '' ''\nexit $LASTEXITCODE\n"
    assert literals == argv


async def test_input_is_sent_in_chunks_and_ended() -> None:
    transport, shell = transport_for(finish(0))
    await transport.run(["findstr.exe", "x"], input=b"y" * 100_000)
    assert shell.processes[0].stdin == b"y" * 100_000
    assert [end for _, end in shell.processes[0].sends] == [False, False, False, True]
    assert max(size for size, _ in shell.processes[0].sends) <= 32 * 1024


async def test_put_writes_base64_through_the_data_root_script() -> None:
    transport, shell = transport_for(finish(0, b'{"written":5}'))
    path = DATA_ROOT + "\\runs\\r1\\round-1\\job.json"
    await transport.put(b"hello", path)
    process = shell.processes[0]
    assert base64.b64decode(process.stdin) == b"hello"
    _, literals = split_literals(decoded(process.argv))
    assert literals[1] == DATA_ROOT and path in literals
    assert "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)" in decoded(process.argv)


@pytest.mark.parametrize("path", ["C:\\Windows\\x", DATA_ROOT + "\\..\\evil", DATA_ROOT + "x\\y"])
def test_put_refuses_paths_outside_the_data_root(path: str) -> None:
    with pytest.raises(ConfigurationError):
        write_file_argv(path)


async def test_timeout_terminates_the_process() -> None:
    transport, shell = transport_for(lambda process: None)
    with pytest.raises(TransportTimeout):
        await transport.run(["ping.exe", "-t", "localhost"], timeout=0.05)
    assert shell.processes[0].signals == [SignalCode.TERMINATE]


async def test_output_past_the_bound_stops_the_command() -> None:
    def flood(process: FakeProcess) -> None:  # one WinRS envelope per poll, never done
        process.stdout += b"x" * 100_000

    transport, shell = transport_for(flood, max_output=1_000_000)
    with pytest.raises(OutputLimitError, match="more than 1,000,000 bytes"):
        await transport.run(["cmd.exe", "/c", "type", "big.txt"], timeout=30)
    assert shell.processes[0].signals == [SignalCode.TERMINATE]


async def test_a_long_stream_keeps_only_what_is_unread() -> None:
    def chatty(process: FakeProcess) -> None:
        process.stdout += b"r" * 1000

    transport, shell = transport_for(chatty)
    stream = await transport.open_stream(["python.exe", "c.pyz", "attach"])
    for _ in range(50):
        assert await stream.read() == b"r" * 1000
    assert len(shell.processes[0].stdout) <= 1000  # not 50,000: read bytes are let go


async def test_stream_reads_stdout_and_writes_stdin() -> None:
    def echo(process: FakeProcess) -> None:
        process.stdout = process.stdin.upper()
        if process.ended:
            process.state = CommandState.DONE

    transport, _ = transport_for(echo)
    stream = await transport.open_stream(["python.exe", "c.pyz", "attach", "--run", "r1"])
    await stream.write(b"hello")
    assert await stream.read() == b"HELLO"
    await stream.close()


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (psrp_errors.AuthenticationError("401"), AuthenticationError),
        (requests.exceptions.ConnectionError("refused"), ConnectError),
        (requests.exceptions.ReadTimeout("slow"), TransportTimeout),
    ],
)
async def test_pypsrp_errors_are_translated(error: Exception, kind: type[Exception]) -> None:
    transport, _ = transport_for(finish(0), fail_open=error)
    with pytest.raises(kind):
        await transport.run(["hostname.exe"])


@pytest.mark.parametrize("bad", ['say "hi"', "", "a\x00b", "C:\\dir with space\\"])
def test_native_call_refuses_what_powershell_would_mangle(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        native_call(["python.exe", bad])


def test_windows_ssh_command_is_inert_for_posix_cmd_and_powershell() -> None:
    transport = WindowsSSHTransport(SSHSettings("srv1", use_sudo=True))
    argv = [
        "C:\\Python\\python.exe",
        "c.pyz",
        "run",
        "--job",
        "C:\\ProgramData\\patchpilot\\j k.json",
    ]
    line = transport._command(argv)
    assert not line.startswith("sudo")
    tokens = shlex.split(line)
    assert tokens == windows_argv(argv)
    assert split_literals(decoded(tokens))[1] == argv
    assert transport._command(["hostname.exe"]) == "hostname.exe"
