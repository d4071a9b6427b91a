"""Fault: the connector's clock and the target's differ by minutes (issue 11).

The connector runs under libfaketime, its clock 10 minutes ahead of or behind the lab
server's. The run must still prove its reboot (boot ids, not clocks) and report sane
durations: every interval in the result is measured on the connector's own clock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from connector_lab import argv, assert_whole_journal

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("skew", ["+10m", "-10m"])
def test_run_completes_with_a_skewed_connector_clock(
    lab: Lab, lab_server: Server, tmp_path: Path, skew: str
) -> None:
    faketime = shutil.which("faketime")
    assert faketime, "faketime is missing: run scripts/install.sh"
    before = lab.boot_id(lab_server.name)
    result_file = tmp_path / "result.json"
    command = [faketime, "-f", skew, *argv(lab, lab_server, tmp_path, "--run-id", "skew")]
    command += ["--result-file", str(result_file)]
    env = dict(os.environ, FAKETIME_DONT_RESET="1")
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, timeout=280, env=env)
    wall = time.time() - started
    assert done.returncode == 0, done.stderr
    result = json.loads(result_file.read_text())
    assert result["status"] == "success" and not result["errors"]
    installed = {u["id"]: u["version"] for u in result["updates"] if u["status"] == "installed"}
    assert installed == FINAL_VERSIONS
    reboots = result["reboots"]
    assert reboots["count"] >= 1 and reboots["boot_ids"][0] != before
    assert lab.boot_id(lab_server.name) == reboots["boot_ids"][-1]
    # The stamps are the connector's clock: shifted by the skew, consistent among themselves.
    offset = 600 if skew.startswith("+") else -600
    assert abs(_at(result["started"]) - (started + offset)) < 30
    run_seconds = _at(result["finished"]) - _at(result["started"])
    assert 0 < run_seconds <= wall + 1
    for item in reboots["items"]:
        assert 0 < item["seconds"] <= wall
        assert 0 <= _at(item["back_at"]) - _at(item["requested_at"]) <= wall
    for summary in result["rounds"]:
        assert 0 <= _at(summary["finished"]) - _at(summary["started"]) <= wall
    assert_whole_journal(tmp_path, "skew")
