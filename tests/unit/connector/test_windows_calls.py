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
from patchpilot.connector.runner import run_target
from patchpilot.connector.store import Store
from patchpilot.connector.target import TargetSpec
from patchpilot.connector.targetos import ClientSite, WindowsOS
from patchpilot.connector.windows_calls import (
    CALLS_DIR,
    RELAY_SCRIPT,
    answer_path,
    call_client,
    open_log,
)
from patchpilot.connector.windows_target import pushed_path
from patchpilot.errors import LaunchError, TransportTimeout
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState, TaskStatus
from patchpilot.launchers.schtasks import SchtasksLauncher
from patchpilot.protocol import PROTOCOL_VERSION, FrameDecoder, connector_proof, encode_frame
from patchpilot.transports.base import Transport
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.powershell import render, split_literals

ARGV = [PYTHON, CLIENT, "lock", "--run", "r1"]


class ScriptedLauncher(Launcher):
    """A launcher whose tasks end as told; records launches and cleanups."""

    name = "schtasks"

    def __init__(self, status: TaskStatus) -> None:
        self.fixed = status
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
        return self.fixed

    async def cleanup(self, transport: Transport, handle: TaskHandle) -> None:
        self.cleaned.append(handle.task_id)


def no_answer(argv: tuple[str, ...], _: bytes | None) -> tuple[int, str]:
    assert "Remove-Item" in decoded(argv)
    return 0, '{"text":null}'


async def test_a_task_that_cannot_start_says_why() -> None:
    launcher = ScriptedLauncher(TaskStatus(TaskState.FAILED_TO_START, detail="path not found"))
    with pytest.raises(LaunchError, match="did not start: path not found"):
        await call_client(FakeTransport(no_answer), launcher, ARGV, key="r1-lock", timeout=10)
    assert launcher.cleaned == ["r1-lock"]


async def test_a_task_that_ends_without_an_answer_fails_with_its_status() -> None:
    launcher = ScriptedLauncher(TaskStatus(TaskState.EXITED, exit_status=0xC0000135, detail="x"))
    done = await call_client(FakeTransport(no_answer), launcher, ARGV, key="r1-lock", timeout=10)
    assert done.exit_status == 0xC0000135 and "ended without an answer" in done.stderr
    [launched] = launcher.launched
    assert launched[:-1] == [*ARGV, "--output"]
    assert launched[-1].startswith(CALLS_DIR + "\\r1-lock-") and launched[-1].endswith(".json")


async def test_a_task_that_never_answers_times_out_naming_the_verb() -> None:
    launcher = ScriptedLauncher(TaskStatus(TaskState.RUNNING))
    with pytest.raises(TransportTimeout, match=r"lock did not answer in 0\.3 s"):
        await call_client(FakeTransport(no_answer), launcher, ARGV, key="r1-lock", timeout=0.3)
    assert launcher.cleaned == ["r1-lock"]


async def test_an_answer_left_by_an_interrupted_call_is_not_taken_for_a_new_one() -> None:
    target = WindowsTarget("r1", {})
    stale = answer_path("r1-lock", "0badf00d")
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
        await call_client(FakeTransport(garbage), launcher, ARGV, key="r1-lock", timeout=10)


async def test_a_target_held_by_another_run_is_refused_before_any_round(tmp_path: Path) -> None:
    client = FakeClient.make(tmp_path)
    target = WindowsTarget("w9", {}, python="py.exe", client=pushed_path(client.sha256))
    target.holder = "other-run"
    result = await run_target(
        TargetSpec("srv9", "srv9"),
        RunOptions(run_id="w9", os="windows", python="py.exe"),
        store=Store.open(tmp_path / "state"),
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
    stream = await WindowsOS(python=PYTHON).open_log(site, 1, ended)
    assert target.verbs == ["attach"]
    serve = [PYTHON, CLIENT, "attach", "--run", "r1", "--round", "1", "--listen", "60"]
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
    stream = await open_log(target.transport, SchtasksLauncher(), [PYTHON, CLIENT], "r1", 1, None)
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
    relay = open_log(target.transport, SchtasksLauncher(), [PYTHON, CLIENT], "r1", 1, task)
    target.live.add(1)  # the relay waits for the pipe (Connect with a timeout)
    stream = await relay
    assert (await handshake(stream, "5e" * 32, "r1", 1))["r"]["seq"] == 1
    await stream.close()
    assert target.verbs == []  # no `attach --listen`


def test_the_relay_script_carries_only_the_pipe_name_and_wait() -> None:
    script = render(RELAY_SCRIPT, {"name": "patchpilot-r1-2", "wait_ms": 60000})
    skeleton, literals = split_literals(script)
    assert literals == ["Stop", "patchpilot-r1-2", ".", "no log endpoint ", ": "]
    assert "$pipe.Connect(60000)" in skeleton and "CopyToAsync($pipe)" in skeleton
