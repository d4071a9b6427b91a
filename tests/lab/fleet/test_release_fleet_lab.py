"""`patchpilot fleet` over Debian 11, 12 and 13 servers: one frozen plan per release (issue 26).

Each release's suite (`lab-<codename>`) holds its own build of `lab-release`, as Debian's
point releases do: 2.0+deb11u1 exists only on Debian 11, and so on. The versions rise with
the release, so a server that followed an older release's plan would refuse its own newer
build ("exceeds the frozen plan"): ending at its own build proves it followed its own
group's plan. `--list-hosts` and `--check-only` show the groups first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.releases import RELEASES
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.releases]

PATCHPILOT = str(Path(sys.executable).with_name("patchpilot"))
OLD, NEW = "1.0+deb{v}", "2.0+deb{v}u1"


@pytest.fixture
def releases(lab: Lab) -> Iterator[list[Server]]:
    """One fresh server per release, each reading its release's suite, its `lab-release` old."""
    servers: list[Server] = []
    try:
        for codename, release in RELEASES.items():
            for version in (OLD, NEW):
                lab.repo.add_package(
                    "lab-release", version.format(v=release.version_id), suite=f"lab-{codename}"
                )
            server = lab.add_server(release=codename)
            servers.append(server)
            source = f"deb [trusted=yes] {lab.repo.url} lab-{codename} main"
            old = OLD.format(v=release.version_id)
            lab.ssh(server.name, ["sh", "-c",
                    f"echo '{source}' > /etc/apt/sources.list.d/lab-release.list && apt-get "
                    f"update -qq && apt-get install -y -qq lab-release={old}"])  # fmt: skip
        yield servers
    finally:
        for server in servers:
            lab.remove_server(server.name)


def _fleet(lab: Lab, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [PATCHPILOT, "fleet", str(tmp_path / "inv.yml"), "--known-hosts",
            str(lab.known_hosts_path), "--state-dir", str(tmp_path / "state"),
            "--stability-window", "1", *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


def _results(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """Return host -> its result in the fleet result (the last line)."""
    servers = json.loads(done.stdout.splitlines()[-1])["servers"]
    return {server["host"]: server["result"] for server in servers}


def _versions(lab: Lab, server: Server) -> dict[str, str]:
    out = lab.ssh(server.name, ["dpkg-query", "-W", "-f=${Package}=${Version}\\n", "lab-*"])
    return dict(line.split("=", 1) for line in out.stdout.split())


def test_each_release_follows_its_own_plan(
    lab: Lab, releases: list[Server], tmp_path: Path
) -> None:
    common = {"ansible_user": "root", "ansible_ssh_private_key_file": str(lab.key_path)}
    hosts = {s.name: {"ansible_host": s.address} for s in releases}
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    group = {s.name: f"deb/debian-{RELEASES[s.release].version_id}" for s in releases}

    listed = _fleet(lab, tmp_path, "--list-hosts")
    assert listed.returncode == 0, listed.stderr
    expected = [f"    {group[s.name]} (plan from {s.name}): {s.name}" for s in releases]
    assert listed.stdout.splitlines()[-4:] == ["  plan groups (3):", *expected]

    checked = _fleet(lab, tmp_path, "--check-only", "--run-id", "look")
    assert checked.returncode == 20, checked.stdout[-3000:] + checked.stderr
    by_host = _results(checked)
    assert {name: result["plan_group"] for name, result in by_host.items()} == group
    for server in releases:
        assert f" | group {group[server.name]}: {server.name}\n" in checked.stdout

    done = _fleet(lab, tmp_path, "--run-id", "mixed")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    by_host = _results(done)
    for server in releases:
        result = by_host[server.name]
        assert (result["plan_group"], result["plan_from"]) == (group[server.name], server.name)
        own = NEW.format(v=RELEASES[server.release].version_id)
        assert _versions(lab, server) == {**FINAL_VERSIONS, "lab-release": own}
