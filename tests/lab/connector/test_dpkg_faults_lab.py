"""Fault: dpkg left half-configured by an earlier crash, and its lock held by another
process (unattended-upgrades style) for longer than the lock wait (issue 11).

The run must fail clearly, naming the holder, and touch nothing; once the lock is free a
re-run repairs dpkg (`dpkg --configure -a`) and completes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import assert_whole_journal, lab_packages, records, run

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

HOLDER = "/root/unattended-upgrades"
# Takes dpkg's frontend lock the way apt_pkg does (fcntl), says so, and keeps it until stopped.
HOLDER_SOURCE = """#!/usr/bin/python3
import fcntl, os, time
lock = open("/var/lib/dpkg/lock-frontend", "w")
fcntl.lockf(lock, fcntl.LOCK_EX)
open("/run/fake-uu.ready", "w").close()
while True:
    time.sleep(60)
"""


def _hold_lock(lab: Lab, server: Server) -> None:
    write = (
        "import os, sys; open(sys.argv[1], 'w').write(sys.argv[2]); os.chmod(sys.argv[1], 0o755)"
    )
    lab.ssh(server.name, ["python3", "-c", write, HOLDER, HOLDER_SOURCE])
    lab.ssh(server.name, ["rm", "-f", "/run/fake-uu.ready"])
    lab.ssh(server.name, ["systemd-run", "--unit", "fake-uu", "--collect", HOLDER])
    lab.ssh(
        server.name,
        [
            "sh",
            "-c",
            "for i in $(seq 100); do [ -e /run/fake-uu.ready ] && exit 0; sleep 0.1; done; exit 1",
        ],
    )


def _half_configure(lab: Lab, server: Server) -> None:
    """Unpack the new lab-base-a without configuring it, as a crash mid-upgrade leaves it."""
    lab.ssh(
        server.name,
        [
            "sh",
            "-c",
            "cd /tmp && apt-get update -qq && apt-get download -q lab-base-a=2.0"
            " && dpkg --unpack /tmp/lab-base-a_2.0_*.deb",
        ],
    )


def test_half_configured_dpkg_and_a_held_lock(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    _half_configure(lab, lab_server)
    assert "lab-base-a 2.0 iU" in lab_packages(lab, lab_server)
    before = lab_packages(lab, lab_server)
    log_before = lab.ssh(lab_server.name, ["wc", "-l", "/var/log/dpkg.log"]).stdout
    _hold_lock(lab, lab_server)
    try:
        held = run(lab, lab_server, tmp_path, "--run-id", "held", "--lock-timeout", "3")
        assert held.exit_status == 77, held.stderr
        assert held.result["status"] == "client-failed"
        (error,) = held.result["errors"]
        assert "/var/lib/dpkg/lock-frontend" in error and HOLDER in error, error
        assert lab_packages(lab, lab_server) == before  # nothing installed, nothing repaired
        assert lab.ssh(lab_server.name, ["wc", "-l", "/var/log/dpkg.log"]).stdout == log_before
        assert_whole_journal(tmp_path, "held")
    finally:
        lab.ssh(lab_server.name, ["systemctl", "stop", "fake-uu"], check=False)
    again = run(lab, lab_server, tmp_path, "--run-id", "again")
    assert again.exit_status == 0, again.stderr
    # The repair configured lab-base-a 2.0 (so the plan no longer lists it); the rest upgraded.
    assert again.installed == {k: v for k, v in FINAL_VERSIONS.items() if k != "lab-base-a"}
    final = {
        line.split()[0]: line.split()[1:] for line in lab_packages(lab, lab_server).splitlines()
    }
    assert {name: final[name] for name in FINAL_VERSIONS} == {
        name: [version, "ii"] for name, version in FINAL_VERSIONS.items()
    }
    assert any(r["event"] == "dpkg.repair" for r in records(tmp_path, "again"))
    assert lab.ssh(lab_server.name, ["dpkg", "--audit"]).stdout.strip() == ""


MARK_REINSTREQ = """
path = "/var/lib/dpkg/status"
text = open(path).read()
old = "Package: lab-base-a\\nStatus: install ok unpacked\\n"
assert old in text, "lab-base-a is not unpacked"
new = "Package: lab-base-a\\nStatus: install reinstreq half-installed\\n"
open(path, "w").write(text.replace(old, new))
"""


def test_a_package_left_reinst_required_is_reinstalled(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    """A reset in a package's unpack leaves it half-installed and reinst-required (CI met it
    in the reset test: lab-bulk-0123): `dpkg --configure -a` and `apt-get -f install` refuse
    it, and the run must reinstall it, not end 0 with it broken."""
    _half_configure(lab, lab_server)
    lab.ssh(lab_server.name, ["python3", "-c", MARK_REINSTREQ])
    assert "lab-base-a 2.0 iHR" in lab_packages(lab, lab_server)
    done = run(lab, lab_server, tmp_path, "--run-id", "reinst")
    assert done.exit_status == 0, done.stderr
    final = {
        line.split()[0]: line.split()[1:] for line in lab_packages(lab, lab_server).splitlines()
    }
    assert {name: final[name] for name in FINAL_VERSIONS} == {
        name: [version, "ii"] for name, version in FINAL_VERSIONS.items()
    }
    assert lab.ssh(lab_server.name, ["dpkg", "--audit"]).stdout.strip() == ""
    repairs = [r["fields"] for r in records(tmp_path, "reinst") if r["event"] == "dpkg.repair"]
    assert any("--reinstall" in f["command"] and f["exit_status"] == 0 for f in repairs), repairs
