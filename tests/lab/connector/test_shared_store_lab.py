"""`patchpilot run --state-url`: a run killed on one connector host is resumed by another
(its own state dir, the same PostgreSQL store and state key), installing nothing twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from connector_lab import argv, dpkg_installs, run

from patchpilot.lab.catalog import SLOW_SECONDS_FILE
from patchpilot.lab.lab import Lab
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab


def _wait_for_record(postgres: PostgresServer, db: str, run_id: str, event: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            found = postgres.psql(
                f"SELECT 1 FROM patchpilot.journal WHERE run_id = '{run_id}' AND event = '{event}'",
                db,
            )
        except RuntimeError:  # no tables yet
            found = ""
        if found.strip():
            return
        time.sleep(0.2)
    raise AssertionError(f"no {event} record within 90 s")


def test_a_run_killed_on_one_host_resumes_on_another(
    lab: Lab, lab_server: Server, postgres: PostgresServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url = postgres.create_database("shared_cli")
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    monkeypatch.setenv("PATCHPILOT_STATE_URL", url)
    monkeypatch.setenv("PATCHPILOT_STATE_KEY", "3c" * 32)
    lab.install_opt_in(lab_server, "lab-slow")
    lab.ssh(lab_server.name, ["sh", "-c", f"echo 4 > {SLOW_SECONDS_FILE}"])
    first = subprocess.Popen(
        argv(lab, lab_server, tmp_path / "host-a", "--run-id", "shared"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_for_record(postgres, "shared_cli", "shared", "plan.selected")
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = run(lab, lab_server, tmp_path / "host-b", "--run-id", "shared")
    assert done.exit_status == 0, done.stderr
    assert done.installed["lab-slow"] == "2.0"
    assert dpkg_installs(lab, lab_server, "lab-slow") == 2  # 1.0 by the test, 2.0 once
    assert not (tmp_path / "host-b" / "state.sqlite").exists()  # everything went to PostgreSQL
    starts = postgres.psql(
        "SELECT round FROM patchpilot.journal WHERE run_id = 'shared' "
        "AND event = 'run.started' ORDER BY round",
        "shared_cli",
    ).split()
    assert starts == ["1", "2"]  # round 1 was resumed, not started again
    secret = postgres.psql("SELECT secret FROM patchpilot.runs", "shared_cli").strip()
    assert secret.startswith("aesgcm1:")
    shown = subprocess.run(
        [*argv(lab, lab_server, tmp_path / "host-c")[:1], "result", "shared",
         "--state-dir", str(tmp_path / "host-c")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(shown.stdout)["exit_code"] == 0
