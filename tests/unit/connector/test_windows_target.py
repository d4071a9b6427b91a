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
        path = split_literals(text)[1][1]
        data = self.files.get(path)
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


async def test_shared_path_needs_a_share_and_is_verified(tmp_path: Path) -> None:
    artifact = Artifact(tmp_path / "c.pyz", "cd" * 32)
    transport = FakeTransport(Target({}))
    with pytest.raises(ConfigurationError, match="verified over SMB"):
        await deploy_windows_client(transport, artifact, shared_path="\\\\f\\p\\c.pyz")
    checked: list[tuple[str, str]] = []

    class Share:
        async def verify(self, path: str, expected: str) -> None:
            checked.append((path, expected))

    path = await deploy_windows_client(
        transport, artifact, shared_path="\\\\f\\p\\c.pyz", share=Share()
    )
    assert path == "\\\\f\\p\\c.pyz" and checked == [(path, "cd" * 32)]
    assert transport.commands == []


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
