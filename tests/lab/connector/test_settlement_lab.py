"""A run's result agrees with the server's package manager, whatever a fault did to the rounds'
word (docs/reliability.md, "The result is the server's"; fault campaign seeds 5, 21 and 25).

Each test puts a fault at the exact moment the campaign hit by chance, then compares the result
with dpkg.log: every package it shows reaching its new version since the run began is in the
result's installed list, and nothing else is.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from connector_lab import argv, records

from patchpilot.lab.catalog import SLOW_SECONDS_FILE
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

PACKAGES = ("lab-base-a", "lab-base-b", "lab-slow")


def _slow(lab: Lab, server: Server, seconds: int) -> int:
    """Put lab-slow 1.0 on the server (its 2.0's postinst sleeps seconds); return dpkg.log's
    length, the point from which the run's installs are counted."""
    lab.install_opt_in(server, "lab-slow")
    lab.ssh(server.name, ["sh", "-c", f"echo {seconds} > {SLOW_SECONDS_FILE}"])
    return len(_dpkg_log(lab, server))


def _dpkg_log(lab: Lab, server: Server) -> list[str]:
    return str(lab.ssh(server.name, ["cat", "/var/log/dpkg.log"]).stdout).splitlines()


def _installed_since(lab: Lab, server: Server, start: int) -> dict[str, str]:
    """Return name -> version of the lab packages dpkg.log shows configured since start."""
    found = {}
    for line in _dpkg_log(lab, server)[start:]:
        words = line.split()
        if " status installed lab-" in line:
            found[words[4].split(":")[0]] = words[5]
    return found


def _wait_in_slow_postinst(lab: Lab, server: Server, start: int, timeout: float = 300) -> None:
    """Wait until dpkg runs lab-slow 2.0's postinst (it sleeps there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = _dpkg_log(lab, server)[start:]
        if any(" status half-configured lab-slow" in line for line in lines):
            return
        time.sleep(0.2)
    raise AssertionError(f"dpkg did not configure lab-slow 2.0 within {timeout} s")


def _run_with(lab: Lab, server: Server, tmp_path: Path, fault: str, start: int,
              *options: str) -> tuple[int, dict[str, object], str]:  # fmt: skip
    """Run patchpilot on PACKAGES; inject fault once lab-slow's postinst runs; return the exit
    status, the result and stderr."""
    only = [arg for name in PACKAGES for arg in ("--include", name)]
    command = argv(lab, server, tmp_path / "state", "--run-id", "settle", *only, *options)
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_in_slow_postinst(lab, server, start)
        lab.ssh(server.name, ["sh", "-c", fault], timeout=30)
        stdout, stderr = run.communicate(timeout=600)
    finally:
        run.kill()
    return run.returncode, json.loads(stdout.strip().splitlines()[-1]), stderr


def _result_installed(result: dict[str, object]) -> dict[str, str]:
    updates = result["updates"]
    assert isinstance(updates, list)
    return {u["id"]: u["version"] for u in updates if u["status"] == "installed"}


def test_a_run_that_ends_at_the_interruption_limit_reports_what_dpkg_installed(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    # seed 25 (lab-14) and seed 5: the run stopped at --max-interruptions (78) and its result
    # listed nothing, while the cut rounds had installed packages. Here: the client is killed
    # in lab-slow's postinst (apt configures lab-base-a and -b before it), and the run may
    # recover no interruption at all.
    start = _slow(lab, lab_server, 15)
    kill = "kill -9 $(systemctl show -p MainPID --value patchpilot-settle-r1.service)"
    code, result, stderr = _run_with(lab, lab_server, tmp_path, kill, start,
                                     "--max-interruptions", "0", "--reboot", "never")  # fmt: skip
    assert code == 78, stderr[-3000:]
    logged = _installed_since(lab, lab_server, start)
    assert {"lab-base-a": "2.0", "lab-base-b": "2.0"}.items() <= logged.items()
    assert _result_installed(result) == logged
    read = [r for r in records(tmp_path / "state", "settle") if r["event"] == "run.installed"]
    assert len(read) == 1 and read[0]["fields"]["lock_held"] == ""


def test_a_package_dpkg_finished_after_its_round_failed_is_reported_installed(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    # seed 21 (lab-7): dpkg was killed in lab-slow's postinst, so its round settled it failed;
    # the next round's repair (`dpkg --configure -a`, after the reboot) finished it, and the
    # result still said failed (exit 30/31) while dpkg.log showed it installed
    start = _slow(lab, lab_server, 5)
    code, result, stderr = _run_with(lab, lab_server, tmp_path, "pkill -9 -x dpkg", start,
                                     "--reboot", "always")  # fmt: skip
    rounds = result["rounds"]
    assert isinstance(rounds, list) and len(rounds) == 2, rounds  # a reboot, then the repair
    logged = _installed_since(lab, lab_server, start)
    assert logged["lab-slow"] == "2.0"
    assert _result_installed(result) == logged
    assert code == 0, stderr[-3000:]
    slow = next(u for u in result["updates"] if u["id"] == "lab-slow")  # type: ignore[attr-defined]
    assert "round 1 had said failed" in slow["message"]
