"""Faults while downloading: the repository becomes unreachable, the disk fills (issue 11).

In both, the server's package lists are fresh (the plan is made from them), then the archives
can no longer be fetched or stored. The run must fail clearly (every update `failed`, saying
why, exit 31), change nothing on the server and not reboot it; once healed, a later run
completes.

- repository down: the lab's repository is an HTTP server on the bridge's gateway, the same
  address SSH comes from, and the image has no packet filter, so the block is apt's own:
  every request goes through a proxy port nothing listens on (connection refused).
- disk full: apt's archive folder becomes a small tmpfs filled to the last block.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import assert_whole_journal, lab_packages, run

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

PROXY = "/etc/apt/apt.conf.d/99patchpilot-repo-down"
ARCHIVES = "/var/cache/apt/archives"
FAULTS = {
    "repository-down": (
        f"printf '%s\\n' 'Acquire::http::Proxy \"http://127.0.0.1:9/\";' > {PROXY}",
        f"rm -f {PROXY}",
        "Connection refused",
    ),
    "disk-full": (
        f"""set -e
        mount -t tmpfs -o size=256k,mode=0755 patchpilot-full {ARCHIVES}
        mkdir -p {ARCHIVES}/partial
        dd if=/dev/zero of={ARCHIVES}/filler bs=4k 2>/dev/null || true
        [ "$(stat -f -c %a {ARCHIVES})" = 0 ]""",
        f"umount {ARCHIVES}",
        "No space left on device",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_download_fault(lab: Lab, lab_server: Server, tmp_path: Path, fault: str) -> None:
    breaks, heals, reason = FAULTS[fault]
    lab.ssh(lab_server.name, ["sh", "-c", "apt-get update -qq && apt-get clean"])
    before = lab_packages(lab, lab_server)
    boot = lab.boot_id(lab_server.name)
    lab.ssh(lab_server.name, ["sh", "-c", breaks])
    try:
        down = run(lab, lab_server, tmp_path, "--run-id", "down")
        assert down.exit_status == 31, down.stderr  # every attempted update failed
        assert down.result["status"] == "failed" and down.result["reboots"]["count"] == 0
        updates = {u["id"]: u for u in down.result["updates"]}
        assert set(updates) == set(FINAL_VERSIONS) - {"lab-stage2-x"}
        for update in updates.values():
            assert update["status"] == "failed", update
            assert update["message"].startswith("download failed: "), update
            assert reason in update["message"], update
        assert lab_packages(lab, lab_server) == before  # nothing installed, nothing half-done
        assert lab.ssh(lab_server.name, ["dpkg", "--audit"]).stdout.strip() == ""
        assert lab.boot_id(lab_server.name) == boot  # no reboot for nothing
        assert_whole_journal(tmp_path, "down")
    finally:
        lab.ssh(lab_server.name, ["sh", "-c", heals], check=False)
    again = run(lab, lab_server, tmp_path, "--run-id", "again")
    assert again.exit_status == 0, again.stderr
    assert again.installed == FINAL_VERSIONS
