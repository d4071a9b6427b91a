"""The ssh_config and Ansible inventory written for a lab."""

from __future__ import annotations

from pathlib import Path

import yaml

from patchpilot.lab.access import inventory_text, ssh_config_text
from patchpilot.lab.server import Server

SERVERS = [Server("lab-1", "10.231.5.2"), Server("lab-vm-1", "127.0.0.1", 2201, "vm")]
KEY = Path("/lab/id_ed25519")
KNOWN = Path("/lab/known_hosts")


def test_ssh_config_has_one_strict_entry_per_server() -> None:
    text = ssh_config_text(SERVERS, KEY, KNOWN)
    assert text.startswith(
        "Host lab-1\n    HostName 10.231.5.2\n    Port 22\n    User root\n"
        "    IdentityFile /lab/id_ed25519\n"
    )
    assert text.count("StrictHostKeyChecking yes") == 2
    assert "UserKnownHostsFile /lab/known_hosts" in text
    assert "Port 2201" in text


def test_inventory_is_ansible_yaml_with_group_lab() -> None:
    hosts = yaml.safe_load(inventory_text(SERVERS, KEY, KNOWN))["lab"]["hosts"]
    assert hosts["lab-1"] == {
        "ansible_host": "10.231.5.2",
        "ansible_port": 22,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "/lab/id_ed25519",
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/lab/known_hosts",
        "lab_kind": "container",
        "lab_flavor": "apt",
    }
    assert hosts["lab-vm-1"]["ansible_port"] == 2201


def test_a_mixed_lab_has_a_group_per_flavor() -> None:
    servers = [Server("lab-1", "10.0.0.2"), Server("lab-2", "10.0.0.3", flavor="dnf")]
    group = yaml.safe_load(inventory_text(servers, KEY, KNOWN))["lab"]
    assert group["children"] == {
        "apt": {"hosts": {"lab-1": None}},
        "dnf": {"hosts": {"lab-2": None}},
    }
    assert "children" not in yaml.safe_load(inventory_text(SERVERS, KEY, KNOWN))["lab"]
