"""`patchpilot run` end to end on RPM lab servers: dnf and zypper (issue 12's "Done when").

The servers are Debian roots with Debian's rpm and dnf (+ dnf-plugins-core) or zypper, an rpm
database seeded with the lab's own RPMs and the lab's RPM repositories (createrepo_c, with an
updateinfo.xml). What that verifies and what it cannot: docs/rpm.md.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_lab import PATCHPILOT, assert_whole_journal, records, run

from patchpilot.lab.lab import Lab
from patchpilot.lab.rpmcatalog import RPM_FINAL_VERSIONS
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

FLAVORS = ("dnf", "zypper")
ROUND_ONE = {k: v for k, v in RPM_FINAL_VERSIONS.items() if k != "lab-stage2-x"}
QUERY = ["rpm", "-qa", "--qf", "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n"]


def _installed(lab: Lab, server: Server) -> dict[str, str]:
    """Return name -> evr (no epoch when 0) of every package in the server's rpm database."""
    found = {}
    for line in lab.ssh(server.name, QUERY).stdout.splitlines():
        name, evr = line.split()
        found[name] = evr[2:] if evr.startswith("0:") else evr
    return found


@pytest.fixture
def rpm_server(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh RPM server of the flavor the test is parametrized with (`flavor`)."""
    server = lab.add_server(flavor=request.param)
    try:
        yield server
    finally:
        lab.remove_server(server.name)


@pytest.fixture(scope="module", params=FLAVORS)
def shared_rpm_server(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Server]:
    """An RPM server for tests that change nothing on it (check-only)."""
    server = lab.add_server(flavor=request.param)
    yield server
    lab.remove_server(server.name)


@pytest.mark.parametrize("rpm_server", FLAVORS, indirect=True)
def test_full_cycle(lab: Lab, rpm_server: Server, tmp_path: Path) -> None:
    before = lab.boot_id(rpm_server.name)
    done = run(lab, rpm_server, tmp_path, "--run-id", "cycle", timeout=400)
    assert done.exit_status == 0, done.stderr + done.stdout[-3000:]
    result = done.result
    assert result["status"] == "success"
    assert done.installed == RPM_FINAL_VERSIONS  # every update, stage2 (round 2) included
    assert result["reboots"]["count"] >= 1 and result["reboots"]["boot_ids"][0] != before
    assert len(result["rounds"]) >= 2
    assert lab.boot_id(rpm_server.name) == result["reboots"]["boot_ids"][-1]
    installed = _installed(lab, rpm_server)
    assert {k: installed[k] for k in RPM_FINAL_VERSIONS} == RPM_FINAL_VERSIONS
    assert_whole_journal(tmp_path, "cycle")
    first = next(r for r in records(tmp_path, "cycle") if r["event"] == "round.result")["fields"]
    assert first["reboot_required"]
    assert "updateinfo: reboot suggested by the advisory of lab-kernel" in first["reboot_reasons"]
    kernel = next(u for u in first["updates"] if u["id"] == "lab-kernel")
    assert (kernel["advisory"], kernel["severity"]) == ("LAB-2026:0002", "Critical")
    assert kernel["cves"] == ["CVE-2026-1002", "CVE-2026-1003"]
    named = next(u for u in result["updates"] if u["id"] == "lab-kernel")  # the run's result
    assert (named["advisory"], named["severity"]) == ("LAB-2026:0002", "Critical")


def test_check_only_changes_nothing(lab: Lab, shared_rpm_server: Server, tmp_path: Path) -> None:
    before = _installed(lab, shared_rpm_server)
    done = run(lab, shared_rpm_server, tmp_path, "--check-only")
    assert done.exit_status == 20, done.stderr
    assert {u["id"] for u in done.result["updates"]} == set(ROUND_ONE)
    assert {u["status"] for u in done.result["updates"]} == {"available"}
    security = next(u for u in done.result["updates"] if u["id"] == "lab-security")
    assert security["advisory"] == "LAB-2026:0001" and security["cves"] == ["CVE-2026-1001"]
    assert _installed(lab, shared_rpm_server) == before


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--security-only",), {"lab-security", "lab-kernel"}),
        (("--severity", "critical"), {"lab-kernel"}),
        (("--severity", "important,moderate"), {"lab-security", "lab-base-a", "lab-base-b"}),
        (("--advisory", "LAB-2026:0003"), {"lab-base-a", "lab-base-b"}),
        (("--cve", "CVE-2026-1001"), {"lab-security"}),
    ],
)
def test_selection_by_advisory(
    lab: Lab,
    shared_rpm_server: Server,
    tmp_path: Path,
    options: tuple[str, ...],
    expected: set[str],
) -> None:
    done = run(lab, shared_rpm_server, tmp_path, "--check-only", *options)
    assert done.exit_status == 20, done.stderr
    assert {u["id"] for u in done.result["updates"]} == expected


@pytest.mark.parametrize("rpm_server", FLAVORS, indirect=True)
def test_advisory_installs_exactly_its_packages(
    lab: Lab, rpm_server: Server, tmp_path: Path
) -> None:
    before = _installed(lab, rpm_server)
    done = run(lab, rpm_server, tmp_path, "--cve", "CVE-2026-1002", "--reboot", "never")
    assert done.exit_status == 10, done.stderr  # lab-kernel: a reboot is pending
    assert done.installed == {"lab-kernel": "2.0-1"}
    after = _installed(lab, rpm_server)
    assert {k: v for k, v in after.items() if before.get(k) != v} == {"lab-kernel": "2.0-1"}


@pytest.mark.parametrize("rpm_server", FLAVORS, indirect=True)
def test_failing_scriptlet_fails_alone(lab: Lab, rpm_server: Server, tmp_path: Path) -> None:
    lab.install_opt_in(rpm_server, "rpm:lab-fail")
    done = run(lab, rpm_server, tmp_path, "--reboot", "never", "--max-rounds", "1")
    assert done.exit_status == 30, done.stderr
    statuses = {u["id"]: u["status"] for u in done.result["updates"]}
    assert statuses.pop("lab-fail") == "failed"
    assert set(statuses) == set(ROUND_ONE) and set(statuses.values()) == {"installed"}


@pytest.mark.parametrize("rpm_server", ["dnf"], indirect=True)
def test_held_rpm_lock_is_waited_for(lab: Lab, rpm_server: Server, tmp_path: Path) -> None:
    hold = (
        "import fcntl, time; f = open('/var/lib/rpm/.rpm.lock', 'a'); "
        "fcntl.lockf(f, fcntl.LOCK_EX); open('/run/held', 'w').close(); time.sleep(8)"
    )
    lab.ssh(rpm_server.name, ["systemd-run", "--unit", "hold-rpm", "python3", "-c", hold])
    deadline = time.monotonic() + 20
    while lab.ssh(rpm_server.name, ["test", "-e", "/run/held"], check=False).returncode:
        assert time.monotonic() < deadline, "the lock holder did not start"
        time.sleep(0.2)
    done = run(lab, rpm_server, tmp_path, "--run-id", "lock", "--reboot", "never")
    assert done.exit_status == 10, done.stderr
    waits = [r["fields"] for r in records(tmp_path, "lock") if r["event"] == "lock.waiting"]
    assert waits and waits[0]["lock"] == "/var/lib/rpm/.rpm.lock"
    assert "python3" in waits[0]["command"]


def test_apt_refuses_advisory_selection(tmp_path: Path) -> None:
    argv = [PATCHPILOT, "run", "nowhere", "--state-dir", str(tmp_path), "--backend", "apt-cli"]
    done = subprocess.run([*argv, "--severity", "critical"], capture_output=True, text=True)
    assert done.returncode == 64, done.stderr
    assert "apt has no advisory metadata" in done.stderr


def test_advisory_selection_on_an_apt_server_is_a_usage_error(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    done = run(lab, lab_server, tmp_path, "--severity", "critical")
    assert done.exit_status == 64, done.stderr
    assert "apt-python has no advisory metadata" in done.result["errors"][0]


@pytest.mark.parametrize("rpm_server", FLAVORS, indirect=True)
def test_download_only_installs_nothing(lab: Lab, rpm_server: Server, tmp_path: Path) -> None:
    before = _installed(lab, rpm_server)
    done = run(lab, rpm_server, tmp_path, "--download-only", "--include", "lab-base-*")
    assert done.exit_status == 0, done.stderr
    statuses = {u["id"]: u["status"] for u in done.result["updates"]}
    assert statuses == {
        "lab-base-a": "downloaded",
        "lab-base-b": "downloaded",
        "lab-base-c": "downloaded",
    }
    assert _installed(lab, rpm_server) == before
