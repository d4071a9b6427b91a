"""Fault: the package repository becomes unreachable in the middle of a round (issue 11).

The server's package lists are fresh (the plan is made from them), then the repository stops
answering before anything is downloaded. The lab's repository is an HTTP server on the
bridge's gateway, the same address SSH comes from, and the image has no packet filter, so
the block is apt's own: every request goes through a proxy port nothing listens on
(connection refused, as for a repository that went down). The run must fail clearly and
change nothing; once the repository answers again a later run completes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import assert_whole_journal, run

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

BLOCK = "/etc/apt/apt.conf.d/99patchpilot-repo-down"


def _versions(lab: Lab, server: Server) -> str:
    fmt = "${Package} ${Version} ${db:Status-Abbrev}\\n"
    return lab.ssh(server.name, ["dpkg-query", "-W", "-f", fmt, "lab-*"]).stdout


def test_repository_down_before_download(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    lab.ssh(lab_server.name, ["apt-get", "update", "-qq"])
    before = _versions(lab, lab_server)
    boot = lab.boot_id(lab_server.name)
    write = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    proxy = 'Acquire::http::Proxy "http://127.0.0.1:9/";\n'
    lab.ssh(lab_server.name, ["python3", "-c", write, BLOCK, proxy])
    try:
        down = run(lab, lab_server, tmp_path, "--run-id", "down")
        assert down.exit_status == 31, down.stderr  # every attempted update failed
        assert down.result["status"] == "failed" and down.result["reboots"]["count"] == 0
        updates = {u["id"]: u for u in down.result["updates"]}
        assert set(updates) == set(FINAL_VERSIONS) - {"lab-stage2-x"}
        for update in updates.values():
            assert update["status"] == "failed", update
            assert update["message"].startswith("download failed: "), update
            assert "fetch" in update["message"], update
        assert _versions(lab, lab_server) == before  # nothing installed, nothing half-done
        assert lab.ssh(lab_server.name, ["dpkg", "--audit"]).stdout.strip() == ""
        assert lab.boot_id(lab_server.name) == boot  # no reboot for nothing
        assert_whole_journal(tmp_path, "down")
    finally:
        lab.ssh(lab_server.name, ["rm", "-f", BLOCK])
    again = run(lab, lab_server, tmp_path, "--run-id", "again")
    assert again.exit_status == 0, again.stderr
    assert again.installed == FINAL_VERSIONS
