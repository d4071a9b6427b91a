"""A whole lab's life: up, the access files, down leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from patchpilot.lab import Lab

pytestmark = pytest.mark.lab


def _leftovers(lab: Lab) -> list[str]:
    """Return every trace of the lab on this machine: links, routes, mounts, processes."""
    index = json.loads((lab.directory / "lab.json").read_text())["index"]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True)
    found = [
        line for line in links.splitlines() if line.startswith((f"pplab{index} ", f"pp{index}v"))
    ]
    found += [line for line in routes.stdout.splitlines() if f"10.231.{index}." in line]
    found += [
        line
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if str(lab.directory) in line
    ]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(lab.directory) in text:
            found.append(text)
    return found


def test_up_writes_access_files_and_down_leaves_nothing(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "own-lab")
    try:
        servers = lab.up(2)
        inventory = yaml.safe_load(lab.inventory_path.read_text())
        hosts = inventory["lab"]["hosts"]
        assert sorted(hosts) == ["lab-1", "lab-2"]
        assert hosts["lab-1"]["ansible_host"] == servers[0].address
        assert "Host lab-2" in lab.ssh_config_path.read_text()
        assert len(_leftovers(lab)) >= 6  # bridge, 2 veths, route, supervisor, 2 nspawn
    finally:
        lab.down()
    assert _leftovers(lab) == []


def test_a_killed_supervisor_takes_its_servers_along_and_up_cleans_the_rest(
    tmp_path: Path,
) -> None:
    lab = Lab(tmp_path / "crashed-lab")
    try:
        lab.up(1)
        supervisor = int((lab.directory / "supervisor.pid").read_text())
        os.kill(supervisor, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any("systemd-nspawn" in line for line in _leftovers(lab)):
            assert time.monotonic() < deadline, "servers outlived their supervisor"
            time.sleep(0.2)
        again = Lab(lab.directory)
        assert not again.is_running()
        assert [server.name for server in again.up(1)] == ["lab-1"]
    finally:
        Lab(lab.directory).down()
    assert _leftovers(lab) == []


@pytest.mark.releases
def test_lab_up_release_from_the_command_line(tmp_path: Path) -> None:
    """`patchpilot lab up 1 --release bullseye`: a Debian 11 server, listed as such."""
    patchpilot = str(Path(sys.executable).with_name("patchpilot"))
    folder = ["--dir", str(tmp_path / "old-lab")]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [patchpilot, "lab", *args, *folder]
        return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)

    refused = cli("up", "1", "--release", "buster")
    assert refused.returncode == 64 and "unknown Debian release 'buster'" in refused.stderr
    assert not (tmp_path / "old-lab" / "lab.json").exists()  # refused before anything started
    lab = Lab(tmp_path / "old-lab")
    try:
        started = cli("up", "1", "--release", "bullseye")
        assert started.returncode == 0, started.stderr
        header, row = cli("list").stdout.splitlines()[:2]
        assert header.split()[5] == "RELEASE" and row.split()[5] == "bullseye"
        version = lab.ssh("lab-1", ["sh", "-c", ". /etc/os-release; echo $VERSION_ID"]).stdout
        assert version == "11\n"
    finally:
        assert cli("down").returncode == 0
    assert _leftovers(lab) == []
