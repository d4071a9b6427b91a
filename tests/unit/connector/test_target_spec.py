"""TARGET parsing (golden cases) and inventory resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpilot.connector.inventory import load_inventory
from patchpilot.connector.target_spec import (
    TargetSpec,
    known_hosts_of,
    parse_target,
    resolve_target,
)
from patchpilot.errors import ConfigurationError


@pytest.mark.parametrize(
    ("text", "host", "port", "user"),
    [
        ("web1", "web1", None, None),
        ("web1.example.com", "web1.example.com", None, None),
        ("root@10.0.0.5", "10.0.0.5", None, "root"),
        ("admin@web1:2222", "web1", 2222, "admin"),
        ("ops@[fd00::5]:22", "fd00::5", 22, "ops"),
    ],
)
def test_parse(text: str, host: str, port: int | None, user: str | None) -> None:
    spec = parse_target(text)
    assert (spec.host, spec.port, spec.user) == (host, port, user)


@pytest.mark.parametrize(
    "text", ["", "a b", "user@", "@host", "host:0", "host:99999", "host:port", "-rf", "a@b@c"]
)
def test_refused(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_target(text)


def test_local_target() -> None:
    assert parse_target("local").transport == "local"


def test_inventory_name(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(
        "web1 ansible_host=10.1.1.1 ansible_port=2200 ansible_user=ops "
        "ansible_ssh_private_key_file=/k\n"
    )
    spec = resolve_target("web1", load_inventory(path))
    assert spec == TargetSpec("web1", "10.1.1.1", 2200, "ops", "/k")
    assert not spec.is_root
    with pytest.raises(ConfigurationError, match="no host"):
        resolve_target("web9", load_inventory(path))
    assert resolve_target("root@web9", load_inventory(path)).host == "web9"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"ansible_ssh_common_args": "-o UserKnownHostsFile=/lab/known_hosts"}, "/lab/known_hosts"),
        ({"ansible_ssh_extra_args": "-oUserKnownHostsFile=/k -o StrictHostKeyChecking=no"}, "/k"),
        ({"ansible_ssh_common_args": "-o ProxyJump=bastion"}, None),
        ({"ansible_ssh_common_args": "-o 'unbalanced"}, None),
        ({}, None),
    ],
)
def test_known_hosts_from_ansible_ssh_args(variables: dict[str, str], expected: str | None) -> None:
    assert known_hosts_of(variables) == expected
