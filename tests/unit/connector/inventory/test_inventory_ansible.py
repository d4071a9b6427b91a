"""Inventories against Ansible itself (issue 13): `--list-hosts` as `ansible --list-hosts`,
and `ansible-inventory --list` JSON, an inventory script and `--inventory-command` resolving
to the same servers as the YAML/INI they came from.

Ansible (ansible-core, pinned in tests/ansible/requirements.txt) lives in its own cached
virtualenv made by scripts/ansible-venv.sh (scripts/install.sh runs it); patchpilot never
imports it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.cli.fleet import host_list
from patchpilot.connector.fleet.job import select_hosts
from patchpilot.connector.fleet.rollout import FleetOptions
from patchpilot.connector.inventory import HostEntry, load_inventories, load_inventory
from patchpilot.errors import ConfigurationError

CASES = Path(__file__).parent / "ansible_cases"
ROOT = Path(__file__).parents[4]
PATTERNS = (
    "all",
    "web",
    "db:web",
    "web:db",
    "prod:&staging",
    "all:!db",
    "web[0]",
    "web[1:]",
    "~[dw].*1",
    "staging",
    "w*",
    "ungrouped",
    "eu:!web02",
    "app,edge",
    "data",
)


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Return the folder of the pinned Ansible's commands (skip when it is not installed)."""
    try:
        venv = subprocess.run(
            [str(ROOT / "scripts" / "ansible-venv.sh")],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no Ansible to compare with: {exc}")
    os.environ["ANSIBLE_HOME"] = str(tmp_path_factory.mktemp("ansible-home"))
    yield Path(venv) / "bin"


def _ansible_hosts(ansible: Path, inventory: Path, pattern: str) -> list[str] | None:
    done = subprocess.run(
        [str(ansible / "ansible"), "-i", str(inventory), pattern, "--list-hosts"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "False"},
    )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or not lines[0].startswith("  hosts ("):
        return None
    if lines[0] == "  hosts (0):":  # patchpilot refuses a selection of nothing
        return None
    return lines


def _ours(inventory: Path, pattern: str) -> list[str] | None:
    try:
        hosts = select_hosts(load_inventory(inventory), pattern)
    except ConfigurationError:
        return None
    return host_list(hosts, FleetOptions())


@pytest.mark.parametrize("case", sorted(CASES.iterdir()), ids=lambda p: p.name)
def test_list_hosts_matches_ansible(ansible: Path, case: Path) -> None:
    compared = 0
    for pattern in PATTERNS:
        theirs = _ansible_hosts(ansible, case, pattern)
        if theirs is None:  # Ansible matched nothing (a warning, exit 0 with no hosts)
            assert _ours(case, pattern) is None, pattern
            continue
        assert _ours(case, pattern) == theirs, pattern
        compared += 1
    assert compared >= 5


def _resolved(hosts: list[HostEntry]) -> list[tuple[object, ...]]:
    return [
        (h.name, h.address, h.port, h.user, sorted(h.groups), dict(h.vars))
        for h in sorted(hosts, key=lambda h: h.name)
    ]


@pytest.mark.parametrize("case", sorted(CASES.iterdir()), ids=lambda p: p.name)
def test_ansible_inventory_json_script_and_command_resolve_alike(
    ansible: Path, case: Path, tmp_path: Path
) -> None:
    listed = subprocess.run(
        [str(ansible / "ansible-inventory"), "-i", str(case), "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    as_json = tmp_path / "inventory.json"
    as_json.write_text(listed)
    script = tmp_path / "inventory.py"
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"if sys.argv[1:] == ['--list']:\n    print(open({str(as_json)!r}).read())\n"
        "else:\n    sys.exit(2)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    expected = load_inventory(case)
    for source in (
        load_inventory(as_json),
        load_inventory(script),
        load_inventories([], [f"cat {as_json}"]),
    ):
        assert _resolved(list(source.hosts)) == _resolved(list(expected.hosts))
        for pattern in PATTERNS:
            try:
                want = [h.name for h in expected.select(pattern)]
            except ConfigurationError:
                continue
            assert {h.name for h in source.select(pattern)} == set(want), pattern
    for pattern in ("all", "db:web", "~[dw].*1", "all:!db", "app,edge"):  # order, as Ansible's
        assert _ours(script, pattern) == _ansible_hosts(ansible, script, pattern), pattern


def test_script_without_meta_is_asked_per_host(tmp_path: Path) -> None:
    script = tmp_path / "cmdb"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --list ]; then echo \'{"web": ["w1", "w2"], "db": {"hosts": ["d1"]}}\'\n'
        'else echo "{\\"ansible_host\\": \\"10.0.0.$2\\"}" | tr -d w; fi\n'
    )
    script.chmod(0o755)
    hosts = load_inventory(script).hosts
    assert [(h.name, h.address) for h in hosts] == [
        ("w1", "10.0.0.1"),
        ("w2", "10.0.0.2"),
        ("d1", "10.0.0.d1"),
    ]


def test_several_inventories_merge_later_wins(tmp_path: Path) -> None:
    first = tmp_path / "a.ini"
    first.write_text("[web]\nw1 ansible_port=2201\nw2\n")
    second = tmp_path / "b.yml"
    second.write_text("db:\n  hosts:\n    d1:\nweb:\n  hosts:\n    w1:\n      ansible_port: 2299\n")
    merged = load_inventories([first, second], ['echo \'{"extra": ["x1"]}\''])
    assert [h.name for h in merged.hosts] == ["w1", "w2", "d1", "x1"]
    assert merged.host("w1").port == 2299
    assert merged.host("w1").where("ansible_port") == f"{second}:7"
    assert [h.name for h in merged.select("web:extra")] == ["w1", "w2", "x1"]


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("exit 3", "exited 3"),
        ("echo '[1, 2]'", "must be an object of groups"),
        ("echo nope", "not JSON"),
        ('echo \'{"web": {"hosts": "w1"}}\'', "must be lists"),
        ("printf '{\"web\": %0150d}' 0 | sed 's/0/[/g; s/$/]/'", "JSON nested more than 100"),
        ("head -c 100000 /dev/zero | tr '\\0' '['", "JSON nested more than 100"),
    ],
)
def test_inventory_command_failures_name_the_command(command: str, error: str) -> None:
    with pytest.raises(ConfigurationError, match=error) as info:
        load_inventories([], [command])
    assert "--inventory-command" in str(info.value)


def test_fleet_list_hosts_cli(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.ini"
    inventory.write_text("[web]\nw2\nw1\n[db]\nd1\n")
    done = subprocess.run(
        [
            *(str(Path(sys.executable).with_name("patchpilot")), "fleet", str(inventory)),
            *("--limit", "db:web", "--list-hosts", "--state-dir", str(tmp_path / "state")),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    groups = "  plan groups (1):\n    unknown (plan from d1): d1, w2, w1\n"  # none answers
    assert done.stdout == "  hosts (3):\n    d1\n    w2\n    w1\n" + groups
    assert not (tmp_path / "state").exists()  # touched nothing
    assert json.dumps(done.stdout)  # plain text, no result document
