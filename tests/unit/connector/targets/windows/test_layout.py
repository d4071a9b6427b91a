"""Windows paths, file reads and the two client deployments, over a scripted transport."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from patchpilot.connector.targets.windows.layout import (
    client_argv,
    deploy_windows_client,
    pushed_path,
    read_text,
    remote_sha256,
    round_dir,
)
from patchpilot.errors import ConfigurationError
from patchpilot.launchers.base import TaskHandle, TaskState, TaskStatus
from patchpilot.transports.base import CommandResult
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.powershell import split_literals


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256: str


def script(argv: tuple[str, ...]) -> str:
    return base64.b64decode(argv[-1]).decode("utf-16-le")


class Target:
    """Answers the hash script from a dict of files; records what was put."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def __call__(self, argv: tuple[str, ...], _: bytes | None) -> CommandResult:
        text = script(argv)
        literals = split_literals(text)[1]
        path = literals[1]
        data = self.files.get(path)
        if "Move-Item" in text:
            self.files[literals[2]] = self.files.pop(path)
            return CommandResult(argv, 0, '{"moved":true}', "", 0.1)
        if "Remove-Item -LiteralPath $copy" in text:
            self.files.pop(path, None)
            return CommandResult(argv, 0, '{"removed":true}', "", 0.1)
        if "Get-FileHash" in text:
            value = f'"{hashlib.sha256(data).hexdigest()}"' if data is not None else "null"
            return CommandResult(argv, 0, f'{{"sha256":{value}}}', "", 0.1)
        return CommandResult(argv, 0, '{"text":"{\\"phase\\": \\"done\\"}"}', "", 0.1)


def test_paths() -> None:
    assert (
        pushed_path("ab" * 32)
        == "C:\\ProgramData\\patchpilot\\client\\patchpilot-client-abababababababab.pyz"
    )
    assert round_dir("r1", 2) == "C:\\ProgramData\\patchpilot\\runs\\r1\\round-2"
    assert client_argv("C:\\py\\python.exe", "c.pyz", "version") == [
        "C:\\py\\python.exe",
        "-I",
        "-S",
        "c.pyz",
        "version",
    ]


async def test_push_once_then_reuse(tmp_path: Path) -> None:
    data = b"client bytes"
    artifact = Artifact(tmp_path / "c.pyz", hashlib.sha256(data).hexdigest())
    artifact.path.write_bytes(data)
    target = Target({})
    transport = FakeTransport(target)

    async def put(blob: bytes, path: str, *, mode: int = 0o600) -> None:
        target.files[path] = blob

    transport.put = put  # type: ignore[method-assign]
    path = await deploy_windows_client(transport, artifact)
    assert path == pushed_path(artifact.sha256) and target.files[path] == data
    pushes = len(transport.commands)
    assert await deploy_windows_client(transport, artifact) == path
    assert len(transport.commands) == pushes + 1  # only the hash, no second push


class CopyingTask:
    """A launcher whose SYSTEM task is the copy script: copies the share's file as SYSTEM would."""

    name = "schtasks"

    def __init__(self, target: Target, share: dict[str, bytes]) -> None:
        self.target, self.share, self.launched = target, share, 0

    async def launch(
        self, transport: object, argv: list[str], *, run_id: str, start_delay: float = 0
    ) -> TaskHandle:
        literals = split_literals(script(tuple(argv)))[1]
        assert "Copy-Item" in script(tuple(argv))
        self.target.files[literals[2]] = self.share[literals[1]]
        self.launched += 1
        return TaskHandle("schtasks", run_id)

    async def status(self, transport: object, handle: TaskHandle) -> TaskStatus:
        return TaskStatus(TaskState.EXITED, exit_status=0)

    async def cleanup(self, transport: object, handle: TaskHandle) -> None:
        return None


UNC = "\\\\f\\p\\c.pyz"


async def test_a_shared_client_runs_from_its_checked_copy(tmp_path: Path) -> None:
    """Security review item 2: the share is copied by a SYSTEM task, the copy is hashed and
    only the copy (in the SYSTEM/Administrators data folder) is ever run."""
    client = b"the client"
    artifact = Artifact(tmp_path / "c.pyz", hashlib.sha256(client).hexdigest())
    target = Target({})
    transport = FakeTransport(target)
    with pytest.raises(ConfigurationError, match="verified over SMB"):
        await deploy_windows_client(transport, artifact, shared_path=UNC)
    checked: list[tuple[str, str]] = []

    class Share:
        async def verify(self, path: str, expected: str) -> None:
            checked.append((path, expected))

    task = CopyingTask(target, {UNC: client})
    path = await deploy_windows_client(
        transport,
        artifact,
        shared_path=UNC,
        share=Share(),
        launcher=task,  # type: ignore[arg-type]
    )
    assert path == pushed_path(artifact.sha256) and checked == [(UNC, artifact.sha256)]
    assert target.files == {path: client} and task.launched == 1
    assert UNC not in client_argv("C:\\py\\python.exe", path)


async def test_a_copy_that_does_not_match_is_deleted_and_refused(tmp_path: Path) -> None:
    """The share changed between the SMB check and the task's copy: the copy is refused."""
    artifact = Artifact(tmp_path / "c.pyz", hashlib.sha256(b"the client").hexdigest())
    target = Target({})

    class Share:
        async def verify(self, path: str, expected: str) -> None:
            return None

    task = CopyingTask(target, {UNC: b"swapped after the check"})
    with pytest.raises(ConfigurationError, match="the copy on the target has SHA-256"):
        await deploy_windows_client(
            FakeTransport(target), artifact, shared_path=UNC, share=Share(),
            launcher=task,  # type: ignore[arg-type]
        )  # fmt: skip
    assert target.files == {}


async def test_hash_and_read_quote_the_path() -> None:
    hostile = "C:\\ProgramData\\patchpilot\\runs\\it's $(x)\\state.json"
    transport = FakeTransport(Target({hostile: b"x"}))
    assert await remote_sha256(transport, hostile) == hashlib.sha256(b"x").hexdigest()
    assert await read_text(transport, hostile) == '{"phase": "done"}'
    for argv in transport.commands:
        assert split_literals(script(argv))[1][1] == hostile


async def test_unreadable_answers_are_none() -> None:
    transport = FakeTransport(lambda argv, _: CommandResult(argv, 1, "", "denied", 0.1))
    assert await remote_sha256(transport, "C:\\x") is None
    assert await read_text(transport, "C:\\x") is None
    garbage = FakeTransport(lambda argv, _: (0, '{"sha256":"not-a-digest"}'))
    assert await remote_sha256(garbage, "C:\\x") is None
