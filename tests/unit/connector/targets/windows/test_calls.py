"""On Windows the client runs only as SYSTEM tasks: verbs answer through files, the log
through a PowerShell relay to the named pipe (with `attach --listen` when no client is live).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from connector_fakes import FakeClient, final, record
from windows_fakes import CLIENT, PYTHON, WindowsTarget, decoded

from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.store import open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets.base import ClientSite
from patchpilot.connector.targets.windows import WindowsOS
from patchpilot.connector.targets.windows.calls import (
    CALLS_DIR,
    RELAY_SCRIPT,
    answer_path,
    call_client,
    open_log,
)
from patchpilot.connector.targets.windows.layout import pushed_path
from patchpilot.errors import ConnectError, LaunchError, TransportTimeout
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState, TaskStatus
from patchpilot.launchers.schtasks import SchtasksLauncher
from patchpilot.protocol import PROTOCOL_VERSION, FrameDecoder, connector_proof, encode_frame
from patchpilot.transports.base import Stream, Transport
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.powershell import render, split_literals

ARGV = [PYTHON, CLIENT, "lock", "--run", "r1"]
CLIENT_ARGV, ARGS = ARGV[:2], ARGV[2:]


class ScriptedLauncher(Launcher):
    """A launcher whose tasks end as told; records launches and cleanups."""

    name = "schtasks"

    def __init__(self, *statuses: TaskStatus) -> None:
        self.statuses = list(statuses)  # the last one repeats
        self.launched: list[list[str]] = []
        self.cleaned: list[str] = []

    async def is_available(self, transport: Transport) -> bool:
        return True

    async def launch(
        self, transport: Transport, argv: Sequence[str], *, run_id: str, start_delay: float = 0
    ) -> TaskHandle:
        self.launched.append(list(argv))
        return TaskHandle(self.name, run_id)

    async def status(self, transport: Transport, handle: TaskHandle) -> TaskStatus:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    async def cleanup(self, transport: Transport, handle: TaskHandle) -> None:
        self.cleaned.append(handle.task_id)


def no_answer(argv: tuple[str, ...], _: bytes | None) -> tuple[int, str]:
    assert "Remove-Item" in decoded(argv)
    return 0, '{"text":null}'


async def test_a_task_that_cannot_start_says_why() -> None:
    launcher = ScriptedLauncher(TaskStatus(TaskState.FAILED_TO_START, detail="path not found"))
    with pytest.raises(LaunchError, match="did not start: path not found"):
        await call_client(
            FakeTransport(no_answer), launcher, CLIENT_ARGV, ARGS, run_id="r1", timeout=10
        )
    assert len(launcher.cleaned) == 1 and launcher.cleaned[0].startswith("r1-lock-")


async def test_a_task_that_ends_without_an_answer_fails_with_its_status() -> None:
    launcher = ScriptedLauncher(TaskStatus(TaskState.EXITED, exit_status=0xC0000135, detail="x"))
    done = await call_client(
        FakeTransport(no_answer), launcher, CLIENT_ARGV, ARGS, run_id="r1", timeout=10
    )
    assert done.exit_status == 0xC0000135 and "ended without an answer" in done.stderr
    [launched] = launcher.launched
    assert launched[:-1] == [*ARGV, "--output"]
    assert launched[-1].startswith(CALLS_DIR + "\\r1-lock-") and launched[-1].endswith(".json")
    assert launcher.cleaned[0] == launched[-1].rsplit("\\", 1)[1].removesuffix(".json")


async def test_a_failed_status_read_does_not_end_the_call() -> None:
    takes = iter([None, None, '{"exit":0,"stdout":"","stderr":""}'])

    def answer_third_time(argv: tuple[str, ...], _: bytes | None) -> tuple[int, str]:
        return 0, json.dumps({"text": next(takes)})

    flaky = ScriptedLauncher(TaskStatus(TaskState.UNKNOWN, detail="WinRM hiccup"),
                             TaskStatus(TaskState.RUNNING))  # fmt: skip
    transport = FakeTransport(answer_third_time)
    done = await call_client(transport, flaky, CLIENT_ARGV, ARGS, run_id="r1", timeout=10)
    assert done.ok


async def test_a_task_gone_for_good_ends_the_call() -> None:
    gone = ScriptedLauncher(TaskStatus(TaskState.UNKNOWN, detail="the task is not registered"))
    done = await call_client(
        FakeTransport(no_answer), gone, CLIENT_ARGV, ARGS, run_id="r1", timeout=10
    )
    assert done.exit_status == 255 and "not registered" in done.stderr


async def test_a_listen_task_is_removed_when_the_relay_cannot_open() -> None:
    def no_pipe(argv: tuple[str, ...], _: bytes | None) -> tuple[int, str]:
        return 0, '{"live":false}'

    async def refuse(argv: tuple[str, ...]) -> Stream:
        raise ConnectError("the link dropped")

    launcher = ScriptedLauncher(TaskStatus(TaskState.RUNNING))
    transport = FakeTransport(no_pipe, stream_handler=refuse)
    with pytest.raises(ConnectError):
        await open_log(transport, launcher, [PYTHON, CLIENT], "r1", 1, None, secret="5e" * 32)
    assert launcher.cleaned == ["r1-a1"]


async def test_a_task_that_never_answers_times_out_naming_the_verb() -> None:
    launcher = ScriptedLauncher(TaskStatus(TaskState.RUNNING))
    with pytest.raises(TransportTimeout, match=r"lock did not answer in 0\.3 s"):
        await call_client(
            FakeTransport(no_answer), launcher, CLIENT_ARGV, ARGS, run_id="r1", timeout=0.3
        )
    assert len(launcher.cleaned) == 1 and launcher.cleaned[0].startswith("r1-lock-")


async def test_an_answer_left_by_an_interrupted_call_is_not_taken_for_a_new_one() -> None:
    target = WindowsTarget("r1", {})
    stale = answer_path("r1-lock-0badf00d")
    target.answers[stale] = json.dumps({"exit": 3, "stdout": "old", "stderr": ""})
    system = WindowsOS(python=PYTHON)
    site = ClientSite(target.transport, SchtasksLauncher(), CLIENT, "r1")
    done = await system.call_client(site, "lock", "--run", "r1", timeout=10)
    assert done.ok and target.holder == "r1" and target.tasks == {}
    assert list(target.answers) == [stale]  # untouched, and not read


async def test_a_malformed_answer_is_an_error() -> None:
    def garbage(argv: tuple[str, ...], _: bytes | None) -> tuple[int, str]:
        return 0, '{"text":"not json"}'

    launcher = ScriptedLauncher(TaskStatus(TaskState.RUNNING))
    with pytest.raises(LaunchError, match="answer is malformed"):
        await call_client(
            FakeTransport(garbage), launcher, CLIENT_ARGV, ARGS, run_id="r1", timeout=10
        )


async def test_a_target_held_by_another_run_is_refused_before_any_round(tmp_path: Path) -> None:
    client = FakeClient.make(tmp_path)
    target = WindowsTarget("w9", {}, python="C:\\py\\py.exe", client=pushed_path(client.sha256))
    target.holder = "other-run"
    result = await run_target(
        TargetSpec("srv9", "srv9"),
        RunOptions(run_id="w9", os="windows", python="C:\\py\\py.exe"),
        store=open_store(tmp_path / "state"),
        on_event=lambda event: None,
        transport=target.transport,
        client=client,
    )
    assert result.exit_code == 74 and "other-run" in " ".join(result.errors)
    assert target.verbs == ["lock"] and target.holder == "other-run"


async def handshake(stream: object, secret: str, run_id: str, round_no: int) -> dict:
    """Authenticate to a served endpoint; return the first record after `read from 1`."""
    decoder = FrameDecoder()
    pending: list[dict] = []

    async def message() -> dict:
        while not pending:
            pending.extend(decoder.feed(await stream.read()))  # type: ignore[attr-defined]
        return pending.pop(0)

    hello = await message()
    proof = connector_proof(secret, run_id, round_no, hello["nonce"], "aa" * 16)
    auth = {"t": "auth", "v": PROTOCOL_VERSION, "nonce": "aa" * 16, "proof": proof}
    await stream.write(encode_frame(auth))  # type: ignore[attr-defined]
    assert (await message())["t"] == "welcome"
    await stream.write(encode_frame({"t": "read", "from": 1}))  # type: ignore[attr-defined]
    return await message()


def with_job(target: WindowsTarget, round_no: int, secret: str) -> None:
    job = WindowsOS().round_file(target.run_id, round_no, "job.json")
    target.transport.files[job] = (json.dumps({"secret": secret}).encode(), 0o600)


async def test_an_ended_client_is_reached_through_attach_listen() -> None:
    target = WindowsTarget(
        "r1", {1: [record(1, "run.started"), final(2, status="nothing", results=[])]}
    )
    with_job(target, 1, "5e" * 32)
    launcher = SchtasksLauncher()
    site = ClientSite(target.transport, launcher, CLIENT, "r1")
    ended = TaskHandle("schtasks", "patchpilot-r1-r1")  # not registered any more
    stream = await WindowsOS(python=PYTHON).open_log(site, 1, ended, secret="5e" * 32)
    assert target.verbs == ["attach"]
    serve = [PYTHON, "-I", "-S", CLIENT, "attach", "--run", "r1", "--round", "1", "--listen", "60"]
    assert target.tasks == {"patchpilot-r1-a1": serve}
    first = await handshake(stream, "5e" * 32, "r1", 1)
    assert first["r"]["event"] == "run.started"
    await stream.close()
    assert target.tasks == {} and target.removed == ["patchpilot-r1-a1"]


async def test_a_live_client_is_relayed_without_a_task() -> None:
    target = WindowsTarget(
        "r1", {1: [record(1, "run.started"), final(2, status="nothing", results=[])]}
    )
    with_job(target, 1, "5e" * 32)
    target.live.add(1)
    stream = await open_log(
        target.transport, SchtasksLauncher(), [PYTHON, CLIENT], "r1", 1, None, secret="5e" * 32
    )
    assert (await handshake(stream, "5e" * 32, "r1", 1))["r"]["seq"] == 1
    await stream.close()
    assert target.verbs == [] and target.removed == []


async def test_a_starting_client_is_waited_for_not_raced_by_a_listener() -> None:
    target = WindowsTarget(
        "r1", {1: [record(1, "run.started"), final(2, status="nothing", results=[])]}
    )
    with_job(target, 1, "5e" * 32)
    target.running.add("patchpilot-r1-r1")  # its task runs; its pipe is not up yet
    task = TaskHandle("schtasks", "patchpilot-r1-r1")
    relay = open_log(
        target.transport, SchtasksLauncher(), [PYTHON, CLIENT], "r1", 1, task, secret="5e" * 32
    )
    target.live.add(1)  # the relay waits for the pipe (Connect with a timeout)
    stream = await relay
    assert (await handshake(stream, "5e" * 32, "r1", 1))["r"]["seq"] == 1
    await stream.close()
    assert target.verbs == []  # no `attach --listen`


def test_the_relay_script_opens_the_pipe_safely() -> None:
    script = render(RELAY_SCRIPT, {"name": "patchpilot-r1-2", "wait_ms": 60000})
    skeleton, literals = split_literals(script)
    assert literals[:3] == ["Stop", "patchpilot-r1-2", "."]
    assert "$pipe.Connect(60000)" in skeleton and "CopyToAsync($pipe)" in skeleton
    # overlapped I/O (no deadlock between the directions), no impersonation by a squatter
    assert "[IO.Pipes.PipeOptions]::Asynchronous" in skeleton
    assert "TokenImpersonationLevel]::Identification" in skeleton
    # only a pipe owned by SYSTEM or Administrators is relayed to
    assert {"S-1-5-18", "S-1-5-32-544"} <= set(literals)
    assert skeleton.index("GetOwner(") < skeleton.index("OpenStandardInput")
