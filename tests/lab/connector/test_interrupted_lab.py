"""An interrupted round is recovered by the same `patchpilot run` (issue 22, part 1).

A server is reset (`systemctl reboot --force --force`: no shutdown, every process gone at
once) or its client is `kill -9`ed while dpkg unpacks a large upgrade. The run detects it,
waits for the server with the reboot's proof, has the next round's client repair dpkg, runs
the round again with the same plan, and ends patched: exit 0, every package new,
`dpkg --audit` clean, and no package brought to its new version twice (dpkg.log).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_lab import argv, records

from patchpilot.lab.bulk import BULK_PREFIX, bulk_debs
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

COUNT = 400  # lab-bulk packages to upgrade in one round


@pytest.fixture(scope="module")
def bulk(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """COUNT bulk packages (1.0 and 2.0) in the lab repository, taken out afterwards."""
    debs = bulk_debs(COUNT, tmp_path_factory.mktemp("bulk"))
    lab.repo.publish_debs(debs, "bookworm")
    yield
    for deb in debs:
        (lab.repo.directory / "pool" / "bookworm" / deb.name).unlink(missing_ok=True)
    lab.repo.reindex()


def _behind(lab: Lab, server: Server) -> None:
    """Put every bulk package's 1.0 on the server."""
    old = f"seq -f '{BULK_PREFIX}%04g=1.0' 0 {COUNT - 1}"
    lab.ssh(server.name, ["sh", "-c", f"apt-get update -qq && {old} | DEBIAN_FRONTEND="
                          "noninteractive xargs apt-get install -y -qq --no-install-recommends "
                          "> /dev/null"], timeout=900)  # fmt: skip


def _upgraded(lab: Lab, server: Server) -> Counter[str]:
    """Return how many times dpkg.log shows each bulk package reaching 2.0 installed."""
    log = lab.ssh(server.name, ["cat", "/var/log/dpkg.log"]).stdout
    return Counter(
        line.split()[4].split(":")[0]
        for line in log.splitlines()
        if " status installed " + BULK_PREFIX in line and line.endswith(" 2.0")
    )


def _unpacking(lab: Lab, server: Server, after: int, timeout: float = 300) -> int:
    """Wait until dpkg has begun unpacking `after` bulk upgrades; return how many."""
    deadline = time.monotonic() + timeout
    script = f"grep -c ' upgrade {BULK_PREFIX}' /var/log/dpkg.log || true"
    while time.monotonic() < deadline:
        done = lab.ssh(server.name, ["sh", "-c", script], check=False, timeout=30)
        count = int(done.stdout.strip() or 0) if done.returncode == 0 else 0
        if count >= after:
            return count
        time.sleep(0.2)
    raise AssertionError(f"dpkg did not unpack {after} bulk upgrades within {timeout} s")


def _patch_while(lab: Lab, server: Server, tmp_path: Path, fault: str) -> dict[str, object]:
    state = tmp_path / "state"
    command = argv(lab, server, state, "--run-id", "cut", "--include", f"{BULK_PREFIX}*",
                   "--reboot", "never", "--reboot-timeout", "120")  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before = _unpacking(lab, server, COUNT // 4)
        lab.ssh(server.name, ["sh", "-c", fault], timeout=30)
        stdout, stderr = run.communicate(timeout=900)
    finally:
        run.kill()
    assert run.returncode == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert before < COUNT
    assert [i["round"] for i in result["interruptions"]] == [1]
    assert result["rounds"][0]["status"] == "interrupted"
    installed = {u["id"] for u in result["updates"] if u["status"] == "installed"}
    assert len(installed) == COUNT
    events = [r["event"] for r in records(state, "cut")]
    assert "round.interrupted" in events
    return result


def _patched_once(lab: Lab, server: Server) -> None:
    versions = lab.ssh(server.name, ["dpkg-query", "-W", f"{BULK_PREFIX}*"]).stdout.split("\n")
    assert {line.split()[1] for line in versions if line} == {"2.0"}
    assert lab.ssh(server.name, ["dpkg", "--audit"]).stdout.strip() == ""
    counts = _upgraded(lab, server)
    assert len(counts) == COUNT and set(counts.values()) == {1}, counts.most_common(3)
    units = lab.ssh(server.name, ["sh", "-c", "systemctl list-units --all 'patchpilot-*' "
                                  "--no-legend | wc -l"]).stdout.strip()  # fmt: skip
    assert units == "0"


@pytest.mark.timeout(1500)
def test_a_server_reset_while_dpkg_unpacks_is_patched_to_the_end(
    lab: Lab, lab_server: Server, tmp_path: Path, bulk: None
) -> None:
    _behind(lab, lab_server)
    boot = lab.boot_id(lab_server.name)
    reset = "(sleep 0.1; systemctl reboot --force --force) > /dev/null 2>&1 &"
    result = _patch_while(lab, lab_server, tmp_path, reset)
    assert result["interruptions"][0]["rebooted"] is True
    assert lab.boot_id(lab_server.name) != boot
    _patched_once(lab, lab_server)


@pytest.mark.timeout(1500)
def test_a_client_killed_while_dpkg_unpacks_is_patched_to_the_end(
    lab: Lab, lab_server: Server, tmp_path: Path, bulk: None
) -> None:
    _behind(lab, lab_server)
    kill = "kill -9 $(systemctl show -p MainPID --value patchpilot-cut-r1.service)"
    result = _patch_while(lab, lab_server, tmp_path, kill)
    assert result["interruptions"][0]["rebooted"] is False
    assert "signal 9" in result["interruptions"][0]["cause"]
    _patched_once(lab, lab_server)


RPM_PACKAGES = ("lab-base-a", "lab-base-b", "lab-base-c", "lab-slow")
RPM_QUERY = ["rpm", "-q", "--qf", "%{NAME} %{VERSION}\\n", *RPM_PACKAGES]


@pytest.fixture
def dnf_server(lab: Lab) -> Iterator[Server]:
    server = lab.add_server(flavor="dnf")
    try:
        yield server
    finally:
        lab.remove_server(server.name)


def _in_slow_post(lab: Lab, server: Server, timeout: float = 300) -> None:
    """Wait until rpm runs lab-slow 2.0's %post (the new header is in the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = lab.ssh(server.name, ["rpm", "-q", "lab-slow"], check=False, timeout=30)
        if "lab-slow-2.0" in done.stdout:
            return
        time.sleep(0.2)
    raise AssertionError(f"lab-slow 2.0 was not being installed within {timeout} s")


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "fault",
    [
        "(sleep 0.1; systemctl reboot --force --force) > /dev/null 2>&1 &",
        "kill -9 $(systemctl show -p MainPID --value patchpilot-cut-r1.service)",
    ],
    ids=["reset", "kill-client"],
)
def test_a_dnf_transaction_cut_in_a_scriptlet_is_patched_to_the_end(
    lab: Lab, dnf_server: Server, tmp_path: Path, fault: str
) -> None:
    lab.install_opt_in(dnf_server, "rpm:lab-slow")
    lab.ssh(dnf_server.name, ["sh", "-c", "echo 20 > /etc/lab-slow.seconds"])
    state = tmp_path / "state"
    only = [arg for name in RPM_PACKAGES for arg in ("--include", name)]
    command = argv(lab, dnf_server, state, "--run-id", "cut", *only, "--reboot", "never",
                   "--backend", "dnf")  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _in_slow_post(lab, dnf_server)
        lab.ssh(dnf_server.name, ["sh", "-c", fault], timeout=30)
        stdout, stderr = run.communicate(timeout=600)
    finally:
        run.kill()
    assert run.returncode == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert [i["round"] for i in result["interruptions"]] == [1]
    installed = {u["id"] for u in result["updates"] if u["status"] == "installed"}
    assert installed == set(RPM_PACKAGES)
    found = lab.ssh(dnf_server.name, RPM_QUERY).stdout.split("\n")
    assert sorted(line for line in found if line) == [
        "lab-base-a 2.0",
        "lab-base-b 2.0",
        "lab-base-c 1.1",
        "lab-slow 2.0",
    ]  # fmt: skip  (one line each: no duplicate left in the rpm database)
    log = lab.ssh(dnf_server.name, ["cat", "/var/log/dnf.rpm.log"]).stdout
    upgrades = Counter(
        line.split("Upgrade: ")[1].split()[0]
        for line in log.splitlines()
        if "Upgrade: lab-" in line
    )
    assert set(upgrades.values()) == {1}, upgrades  # nothing upgraded twice
    units = "systemctl list-units --all 'patchpilot-*' --no-legend | wc -l"
    assert lab.ssh(dnf_server.name, ["sh", "-c", units]).stdout.strip() == "0"
