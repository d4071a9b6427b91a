"""The files that tell SSH, Ansible and patchpilot how to reach a lab's servers.

Pure text builders (tested with golden strings) plus one atomic writer: `ssh_config`
(`ssh -F <lab>/ssh_config lab-1`), `known_hosts` (each server's own host key), and an
Ansible YAML `inventory.yml` with the group `lab`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from patchpilot.lab.server import Server

__all__ = ["inventory_text", "ssh_config_text", "write_atomic"]


def ssh_config_text(servers: Sequence[Server], key: Path, known_hosts: Path) -> str:
    """Return an OpenSSH client config with one Host entry per server."""
    blocks = []
    for server in servers:
        blocks.append(
            f"Host {server.name}\n"
            f"    HostName {server.address}\n"
            f"    Port {server.ssh_port}\n"
            "    User root\n"
            f"    IdentityFile {key}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {known_hosts}\n"
            "    StrictHostKeyChecking yes\n"
            f"    HostKeyAlias {server.name}\n"
            "    ConnectTimeout 5\n"
        )
    return "\n".join(blocks)


def inventory_text(servers: Sequence[Server], key: Path, known_hosts: Path) -> str:
    """Return an Ansible YAML inventory: group `lab` with every server's connection vars
    (in a mixed lab, with one child group per flavor: apt, dnf, zypper)."""
    hosts = {
        server.name: {
            "ansible_host": server.address,
            "ansible_port": server.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
            "lab_kind": server.kind,
            "lab_flavor": server.flavor,
        }
        for server in servers
    }
    flavors = sorted({server.flavor for server in servers})
    children = {f: {"hosts": {s.name: None for s in servers if s.flavor == f}} for f in flavors}
    group: dict[str, object] = {"hosts": hosts}
    if len(flavors) > 1:  # a mixed lab: `--limit dnf` picks one kind of server
        group["children"] = children
    return yaml.safe_dump({"lab": group}, sort_keys=False)


def write_atomic(path: Path, text: str) -> None:
    """Replace a file's content in one step (readers never see half of it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
