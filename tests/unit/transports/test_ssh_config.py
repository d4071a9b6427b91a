"""What the SSH transport takes from an ssh_config, read as asyncssh reads it (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpilot.errors import ConfigurationError, HostKeyError
from patchpilot.transports.ssh_config import (
    Hop,
    jump_hosts,
    refuse_open_key,
    resolve,
    trusted_hosts,
)


def _config(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return [str(path)]


def test_jump_hosts_are_read_in_order(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host web1\n  ProxyJump ops@bastion:2222,[fd00::1]:22,inner\n")
    assert jump_hosts(resolve("web1", config=config)) == [
        Hop("bastion", 2222, "ops"),
        Hop("fd00::1", 22, None),
        Hop("inner", None, None),
    ]
    assert jump_hosts(resolve("web2", config=config)) == []


def test_known_hosts_are_the_configs_existing_files_else_none_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    listed = tmp_path / "listed"
    listed.write_text("")
    config = _config(
        tmp_path,
        f"Host web1\n  UserKnownHostsFile {tmp_path}/missing {listed}\n"
        "Host web2\n  HostName 10.0.0.2\nMatch user patcher\n  UserKnownHostsFile none\n",
    )
    trusted = {"where": "w", "config": "c"}
    assert trusted_hosts(resolve("web1", config=config), None, **trusted) == [str(listed)]
    assert trusted_hosts(resolve("web2", config=config), None, **trusted) == b""  # no file
    assert trusted_hosts(None, "/given", **trusted) == "/given"
    with pytest.raises(HostKeyError, match="c sets `UserKnownHostsFile none`"):
        trusted_hosts(resolve("web2", config=config, username="patcher"), None, **trusted)
    with pytest.raises(HostKeyError, match="known_hosts 'none'"):
        trusted_hosts(None, " None ", **trusted)


def test_a_private_key_must_be_private(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("key")
    key.chmod(0o600)
    refuse_open_key(str(key))
    refuse_open_key(str(tmp_path / "missing"))  # asyncssh names a missing file itself
    key.chmod(0o620)
    with pytest.raises(ConfigurationError, match=r"mode 0620.*chmod 600"):
        refuse_open_key(str(key))
