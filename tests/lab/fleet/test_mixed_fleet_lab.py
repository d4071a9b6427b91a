"""`patchpilot fleet` over a mixed estate: apt, dnf and zypper servers in one command (issue 12).

Each package family gets its own frozen plan (frozen on its first server), every server ends
at its own catalog's final versions, and the fleet result says which plan each followed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.rpmcatalog import RPM_FINAL_VERSIONS
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

PATCHPILOT = str(Path(sys.executable).with_name("patchpilot"))
RPM_QUERY = ["rpm", "-qa", "--qf", "%{NAME}=%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n", "lab-*"]


@pytest.fixture
def mixed(lab: Lab) -> Iterator[list[Server]]:
    """Three fresh servers: apt, dnf, zypper (removed after the test)."""
    servers = lab.add_servers(3, flavor="mixed")
    try:
        yield servers
    finally:
        for server in servers:
            lab.remove_server(server.name)


def _apt_versions(lab: Lab, server: Server) -> dict[str, str]:
    out = lab.ssh(server.name, ["dpkg-query", "-W", "-f=${Package}=${Version}\\n", "lab-*"])
    return dict(line.split("=", 1) for line in out.stdout.split())


def _rpm_versions(lab: Lab, server: Server) -> dict[str, str]:
    out = lab.ssh(server.name, RPM_QUERY).stdout.split()
    pairs = (line.split("=", 1) for line in out)
    return {name: evr[2:] if evr.startswith("0:") else evr for name, evr in pairs}


def test_mixed_fleet_ends_at_each_catalogs_final_versions(
    lab: Lab, mixed: list[Server], tmp_path: Path
) -> None:
    apt, dnf, zypper = mixed
    common = {"ansible_user": "root", "ansible_ssh_private_key_file": str(lab.key_path)}
    hosts = {s.name: {"ansible_host": s.address, "ansible_port": s.ssh_port} for s in mixed}
    inventory = tmp_path / "inv.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    argv = [PATCHPILOT, "fleet", str(inventory), "--known-hosts", str(lab.known_hosts_path),
            "--state-dir", str(tmp_path / "state"), "--run-id", "mixed",
            "--stability-window", "1"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    by_host = {s["host"]: s["result"] for s in result["servers"]}
    assert by_host[apt.name]["plan_group"] == "deb/debian-12"
    assert by_host[dnf.name]["plan_group"] == by_host[zypper.name]["plan_group"] == "rpm/debian-12"
    assert by_host[apt.name]["plan_from"] == apt.name
    assert by_host[dnf.name]["plan_from"] == by_host[zypper.name]["plan_from"] == dnf.name
    assert _apt_versions(lab, apt) == {**_apt_versions(lab, apt), **FINAL_VERSIONS}
    for server in (dnf, zypper):
        versions = _rpm_versions(lab, server)
        assert {k: versions[k] for k in RPM_FINAL_VERSIONS} == RPM_FINAL_VERSIONS
