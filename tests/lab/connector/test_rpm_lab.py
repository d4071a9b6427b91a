"""`patchpilot run` end to end on RPM lab servers: dnf and zypper (issue 12's "Done when").

The servers are Debian roots with Debian's rpm and dnf (+ dnf-plugins-core) or zypper, an rpm
database seeded with the lab's own RPMs and the lab's RPM repositories (createrepo_c, with an
updateinfo.xml). What that verifies and what it cannot: docs/rpm.md.
"""

from __future__ import annotations

import datetime
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_lab import PATCHPILOT, assert_whole_journal, records, run

from patchpilot.lab.lab import Lab
from patchpilot.lab.rpmcatalog import RECENT_ISSUED, RPM_FINAL_VERSIONS
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
    # issue 24 (5): the change record, read from the rpm database before and after
    changes = done.result["changes"]
    assert changes["upgraded"] == [{"id": "lab-kernel", "from": "1.0-1", "to": "2.0-1", "round": 1}]
    assert changes["installed"] == [] and changes["removed"] == []
    assert done.result["updates"][0]["from_version"] == "1.0-1"


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


# Issue 25: --min-age from updateinfo's issued dates, and locked packages reported held.
# LAB-2026:0001 (lab-security) was issued on RECENT_ISSUED (seconds since the epoch, as SUSE
# writes it), the other advisories on 2026-01-15; lab-epoch and lab-servicing have none.
UNDATED = {"lab-epoch", "lab-servicing"}


def _young_enough_to_hold_back_lab_security() -> tuple[int, datetime.date]:
    """Return a --min-age that holds lab-security back (and no other advisory), and the day
    lab-security becomes eligible under it."""
    issued = datetime.datetime.fromtimestamp(RECENT_ISSUED, datetime.UTC).date()
    min_age = (datetime.datetime.now(datetime.UTC).date() - issued).days + 1
    return min_age, issued + datetime.timedelta(days=min_age)


@pytest.mark.parametrize("rpm_server", FLAVORS, indirect=True)
def test_min_age_holds_back_young_and_undated_updates(
    lab: Lab, rpm_server: Server, tmp_path: Path
) -> None:
    min_age, eligible = _young_enough_to_hold_back_lab_security()
    before = _installed(lab, rpm_server)
    done = run(
        lab, rpm_server, tmp_path, "--min-age", str(min_age), "--reboot", "never",
        "--max-rounds", "1",
    )  # fmt: skip
    assert done.exit_status == 10, done.stderr  # lab-kernel: a reboot is pending
    by_id = {u["id"]: u for u in done.result["updates"]}
    assert done.installed == {
        k: ROUND_ONE[k] for k in ROUND_ONE if k not in {*UNDATED, "lab-security"}
    }
    young = by_id["lab-security"]
    assert young["status"] == "skipped", young
    assert f"younger than --min-age {min_age}; eligible from {eligible}" in young["message"]
    for name in UNDATED:
        assert by_id[name]["status"] == "skipped"
        assert "age is unknown (--min-age-undated exclude)" in by_id[name]["message"]
    assert done.result["counts"]["skipped"] == 3
    after = _installed(lab, rpm_server)
    assert {after[k] for k in (*UNDATED, "lab-security")} == {
        before[k] for k in (*UNDATED, "lab-security")
    }
    assert by_id["lab-kernel"]["issued"] == "2026-01-15 00:00:00"


def test_min_age_undated_include_keeps_updates_no_advisory_dates(
    lab: Lab, shared_rpm_server: Server, tmp_path: Path
) -> None:
    min_age, _ = _young_enough_to_hold_back_lab_security()
    args = ("--check-only", "--min-age", str(min_age), "--min-age-undated", "include")
    done = run(lab, shared_rpm_server, tmp_path, *args)
    assert done.exit_status == 20, done.stderr
    statuses = {u["id"]: u["status"] for u in done.result["updates"]}
    assert statuses.pop("lab-security") == "skipped"
    assert statuses == dict.fromkeys(ROUND_ONE.keys() - {"lab-security"}, "available")


LOCK_COMMANDS = {
    "dnf": ["dnf", "-q", "versionlock", "add", "lab-base-c"],
    "zypper": ["zypper", "-n", "addlock", "lab-base-c"],
}


@pytest.mark.parametrize("rpm_server", FLAVORS, indirect=True)
def test_locked_packages_are_held(lab: Lab, rpm_server: Server, tmp_path: Path) -> None:
    """dnf versionlock and zypper locks: the package is `held` (never pending in a plan, never
    installed), like apt's holds."""
    lab.ssh(rpm_server.name, LOCK_COMMANDS[str(rpm_server.flavor)])
    check = run(lab, rpm_server, tmp_path, "--check-only", "--run-id", "check")
    assert check.exit_status == 20, check.stderr
    statuses = {u["id"]: u["status"] for u in check.result["updates"]}
    assert statuses.pop("lab-base-c") == "held", check.result["updates"]
    assert set(statuses.values()) == {"available"}
    plan = next(r for r in records(tmp_path, "check") if r["event"] == "plan.selected")["fields"]
    assert "lab-base-c" not in plan["selected"] and plan["held"] == ["lab-base-c"]
    done = run(lab, rpm_server, tmp_path, "--reboot", "never", "--max-rounds", "1")
    assert done.exit_status == 10, done.stderr
    held = next(u for u in done.result["updates"] if u["id"] == "lab-base-c")
    assert held["status"] == "held" and "lock" in held["message"]
    assert done.result["counts"]["held"] == 1 and done.result["counts"]["failed"] == 0
    assert "lab-base-c is held back on the target" in done.result["warnings"]
    assert _installed(lab, rpm_server)["lab-base-c"] == "1.0-1"
    assert done.installed == {k: v for k, v in ROUND_ONE.items() if k != "lab-base-c"}


def test_a_reused_run_id_and_a_failed_run_leave_the_rpm_server_free(
    lab: Lab, shared_rpm_server: Server, tmp_path: Path
) -> None:
    """Issue 25, items 3 and 4 on dnf and zypper: a run id that ran from another state store
    is refused at once (64) and a run that stopped before any change frees the lock."""
    first, second = tmp_path / "first", tmp_path / "second"
    done = run(lab, shared_rpm_server, first, "--run-id", "reused", "--check-only")
    assert done.exit_status == 20, done.stderr
    again = run(lab, shared_rpm_server, second, "--run-id", "reused", "--check-only")
    assert again.exit_status == 64 and again.seconds < 30, (again.seconds, again.stderr)
    assert "reused" in again.result["errors"][0] and "--run-id" in again.result["errors"][0]
    hooked = run(lab, shared_rpm_server, second, "--run-id", "hooked", "--hook-pre", "exit 3")
    assert hooked.exit_status == 81, hooked.stderr
    lock = ["test", "-e", "/var/lib/patchpilot/target.lock"]
    assert lab.ssh(shared_rpm_server.name, lock, check=False).returncode != 0
    after = run(lab, shared_rpm_server, second, "--run-id", "after", "--check-only")
    assert after.exit_status == 20, after.stderr  # not 74
