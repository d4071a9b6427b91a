"""A real server that reboots again inside the stability window is caught (issues 14, 23).

The next round is prepared and launched while the window is read alongside it; a second
reboot there is waited for in full, and the round it cuts (if it was under way) is
recovered as an interrupted round.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from connector_lab import argv

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab


def _boot_id_after(state: Path, run_id: str, round_no: int) -> str | None:
    try:
        with sqlite3.connect(state / "state.sqlite") as db:
            row = db.execute(
                "SELECT boot_id_after FROM rounds WHERE run_id = ? AND round = ?",
                (run_id, round_no),
            ).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def test_second_reboot_inside_the_window_is_caught(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    command = argv(lab, lab_server, tmp_path, "--run-id", "twice", "--result-file")
    command += [str(tmp_path / "result.json")]
    command[command.index("--stability-window") + 1] = "8"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while (first := _boot_id_after(tmp_path, "twice", 1)) is None:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.1)
        lab.reboot(lab_server.name, wait=False)  # back and ready: inside the 8 s window now
        out, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    result = json.loads((tmp_path / "result.json").read_text())
    third = lab.boot_id(lab_server.name)
    assert third is not None and third != first
    installed = {u["id"]: u["version"] for u in result["updates"] if u["status"] == "installed"}
    assert installed == FINAL_VERSIONS
    cut = result.get("interruptions") or []
    if cut:  # round 2 was launched on the second boot and the reboot cut it
        assert [(c["round"], c["rebooted"]) for c in cut] == [(2, True)]
        rerun = 3  # round 2's plan, run again on the third boot
    else:  # it came before round 2 was under way: waited for in full, round 2 prepared again
        assert result["reboots"]["boot_ids"][0] == third  # the stable boot, not the one that went
        assert _boot_id_after(tmp_path, "twice", 1) == third
        assert "rebooted again inside the stability window" in out + err
        rerun = 2
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        (before,) = db.execute(
            "SELECT boot_id_before FROM rounds WHERE run_id = 'twice' AND round = ?", (rerun,)
        ).fetchone()
    assert before == third
