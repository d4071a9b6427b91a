"""The full cycle on each Debian release the lab builds (issue 26): bullseye, bookworm, trixie.

Each server is that release as Debian ships it (its os-release, Python, apt, dpkg, systemd),
checked first. Then, with both apt backends: security-only through python-apt, changing only
the security package; then the rest through apt's command line (whose output apt 3.0
changed), with the connector killed mid-round and resumed under the same run id: rounds, a
reboot, the round after it, every package at its final version and the slow one configured
once.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from connector_lab import argv, assert_whole_journal, dpkg_installs, records, run, wait_for_event

from patchpilot.lab.catalog import FINAL_VERSIONS, SLOW_SECONDS_FILE
from patchpilot.lab.lab import Lab
from patchpilot.lab.releases import RELEASES

pytestmark = [pytest.mark.lab, pytest.mark.releases]

VERSIONS = (
    '. /etc/os-release; echo "$VERSION_CODENAME $VERSION_ID"; '
    "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'; "
    "apt-get --version | head -n 1"
)


@pytest.mark.parametrize("codename", list(RELEASES))
def test_full_cycle_on_release(lab: Lab, tmp_path: Path, codename: str) -> None:
    release = RELEASES[codename]
    server = lab.add_server(release=codename)
    try:
        assert server.release == codename
        found = lab.ssh(server.name, ["sh", "-c", VERSIONS]).stdout.splitlines()
        assert found[:2] == [f"{codename} {release.version_id}", release.python]
        assert found[2].startswith(f"apt {release.apt}."), found[2]

        state = tmp_path / "state"
        security = run(lab, server, state, "--security-only", "--reboot", "never",
                       "--backend", "apt-python")  # fmt: skip
        assert security.exit_status == 0, security.stdout[-2000:] + security.stderr
        assert security.installed == {"lab-security": FINAL_VERSIONS["lab-security"]}

        lab.install_opt_in(server, "lab-slow")
        lab.ssh(server.name, ["sh", "-c", f"echo 4 > {SLOW_SECONDS_FILE}"])
        before = lab.boot_id(server.name)
        command = argv(lab, server, state, "--run-id", "cycle", "--backend", "apt-cli")
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_event(state, "cycle", "plan.selected")
        first.send_signal(signal.SIGKILL)
        first.wait()
        done = run(lab, server, state, "--run-id", "cycle", "--backend", "apt-cli")
        assert done.exit_status == 0, done.stdout[-2000:] + done.stderr
        result = done.result
        assert result["status"] == "success" and len(result["rounds"]) >= 2
        assert result["reboots"]["count"] >= 1 and result["reboots"]["boot_ids"][0] != before
        expected = {k: v for k, v in FINAL_VERSIONS.items() if k != "lab-security"}
        assert done.installed == {**expected, "lab-slow": "2.0"}
        assert dpkg_installs(lab, server, "lab-slow") == 2  # 1.0 by the test, 2.0 once
        started = [r["round"] for r in records(state, "cycle") if r["event"] == "run.started"]
        assert started[:2] == [1, 2]
        assert_whole_journal(state, "cycle")
    finally:
        lab.remove_server(server.name)
