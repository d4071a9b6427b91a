"""Linux deploy: a shared client is copied into root's client folder, checked there, and
only that copy runs (security review, item 2)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from connector_fakes import FakeClient

from patchpilot.connector.targets.linux import CLIENT_DIR, client_argv, deploy_client, pushed_path
from patchpilot.errors import ConfigurationError
from patchpilot.transports.fake import FakeTransport

SHARE = "/mnt/share/patchpilot-client.pyz"


class Disk:
    """The target's files, and the commands deploy runs on them (install, sha256sum, mv, rm)."""

    def __init__(self, share: bytes) -> None:
        self.files: dict[str, bytes] = {SHARE: share}
        self.commands: list[tuple[str, ...]] = []
        self.transport = FakeTransport(self.handle)

    def handle(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str]:
        self.commands.append(argv)
        if argv[:2] == ("install", "-d"):
            return 0, ""
        if argv[0] == "install":
            self.files[argv[-1]] = self.files[argv[-2]]
        elif argv[0] == "sha256sum":
            data = self.files.get(argv[1])
            return (0, hashlib.sha256(data).hexdigest() + "  f\n") if data else (1, "")
        elif argv[0] == "mv":
            self.files[argv[-1]] = self.files.pop(argv[-2])
        elif argv[0] == "rm":
            self.files.pop(argv[-1], None)
        return 0, ""


async def test_a_shared_client_runs_from_its_checked_copy(tmp_path: Path) -> None:
    client = FakeClient.make(tmp_path)
    disk = Disk(client.path.read_bytes())
    path = await deploy_client(disk.transport, client, shared_path=SHARE)
    assert path == pushed_path(client.sha256) and path.startswith(CLIENT_DIR + "/")
    assert disk.files[path] == client.path.read_bytes()
    checked = [c[1] for c in disk.commands if c[0] == "sha256sum"]
    assert checked and all(p.startswith(CLIENT_DIR + "/") for p in checked)  # the copy, not SHARE
    assert SHARE not in client_argv("/usr/bin/python3", path, "run")
    disk.files[SHARE] = b"tampered after the check"  # the copy that runs is not affected
    assert disk.files[path] == client.path.read_bytes()


async def test_a_tampered_share_is_refused_and_its_copy_deleted(tmp_path: Path) -> None:
    client = FakeClient.make(tmp_path)
    disk = Disk(b"not the client")
    with pytest.raises(ConfigurationError, match="refusing to run a different client"):
        await deploy_client(disk.transport, client, shared_path=SHARE)
    assert set(disk.files) == {SHARE}
