"""`patchpilot run` end to end on real lab servers (issue 4's "Done when" list)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_lab import (
    argv,
    assert_whole_journal,
    dpkg_installs,
    records,
    run,
    wait_for_event,
)

from patchpilot.lab.catalog import FINAL_VERSIONS, SLOW_SECONDS_FILE
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

BASE = {k: v for k, v in FINAL_VERSIONS.items() if k != "lab-stage2-x"}


@pytest.fixture(scope="module")
def shared_server(lab: Lab) -> Iterator[Server]:
    """A server for tests that change nothing on it (check-only, refusals)."""
    server = lab.add_server()
    yield server
    lab.remove_server(server.name)


def _slow(lab: Lab, server: Server, seconds: int) -> None:
    lab.install_opt_in(server, "lab-slow")
    lab.ssh(server.name, ["sh", "-c", f"echo {seconds} > {SLOW_SECONDS_FILE}"])


@pytest.mark.parametrize(
    ("launcher", "table", "code"), [("systemd-run", "native", 0), ("at", "wsus", 110)]
)
def test_full_cycle(
    lab: Lab, lab_server: Server, tmp_path: Path, launcher: str, table: str, code: int
) -> None:
    before = lab.boot_id(lab_server.name)
    done = run(
        lab,
        lab_server,
        tmp_path,
        "--launcher",
        launcher,
        "--exit-codes",
        table,
        "--result-file",
        str(tmp_path / "result.json"),
        "--run-id",
        "cycle",
    )
    assert done.exit_status == code, done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result == done.result and result["status"] == "success"
    assert done.installed == FINAL_VERSIONS  # every update, stage2 included
    assert result["reboots"]["count"] >= 1 and result["reboots"]["boot_ids"][0] != before
    assert len(result["rounds"]) >= 2 and {r["launcher"] for r in result["rounds"]} == {launcher}
    assert lab.boot_id(lab_server.name) == result["reboots"]["boot_ids"][-1]
    assert_whole_journal(tmp_path, "cycle")


def test_check_only_changes_nothing(lab: Lab, shared_server: Server, tmp_path: Path) -> None:
    done = run(lab, shared_server, tmp_path, "--check-only")
    assert done.exit_status == 20
    assert {u["id"] for u in done.result["updates"]} == set(BASE)
    assert {u["status"] for u in done.result["updates"]} == {"available"}
    wsus = run(lab, shared_server, tmp_path, "--check-only", "--exit-codes", "wsus")
    assert (wsus.result["exit_code"], wsus.exit_status) == (1100, 1100 % 256)
    again = run(lab, shared_server, tmp_path, "--check-only")
    assert again.result["updates"] == done.result["updates"]


def test_include_and_exclude_lists(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    include = tmp_path / "include.txt"
    include.write_text("# Include List\nlab-base-*   # the base packages\n\n")
    done = run(
        lab,
        lab_server,
        tmp_path,
        "--include-file",
        str(include),
        "--exclude",
        "lab-base-c",
        "--reboot",
        "never",
    )
    assert done.exit_status == 0, done.stderr
    assert done.installed == {"lab-base-a": "2.0", "lab-base-b": "2.0"}


@pytest.mark.parametrize(("table", "code"), [("native", 30), ("wsus", 255)])
def test_failing_package_gives_partial(
    lab: Lab, lab_server: Server, tmp_path: Path, table: str, code: int
) -> None:
    lab.install_opt_in(lab_server, "lab-fail")
    done = run(lab, lab_server, tmp_path, "--reboot", "never", "--exit-codes", table)
    assert done.exit_status == code, done.stderr
    assert done.result["status"] == "partial"
    statuses = {u["id"]: u["status"] for u in done.result["updates"]}
    assert statuses.pop("lab-fail") == "failed"
    assert set(statuses.values()) == {"installed"} and set(statuses) == set(BASE)


def test_server_that_never_comes_back(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    lab.hang(lab_server.name, None)
    done = run(lab, lab_server, tmp_path, "--reboot-timeout", "15")
    assert done.exit_status == 73, done.stderr
    assert "did not come back" in done.result["errors"][0]
    assert done.seconds < 15 + 30


def test_killed_mid_stream_then_resumed(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    _slow(lab, lab_server, 4)
    command = argv(lab, lab_server, tmp_path, "--run-id", "killed")
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_event(tmp_path, "killed", "plan.selected")
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = run(lab, lab_server, tmp_path, "--run-id", "killed")
    assert done.exit_status == 0, done.stderr
    assert done.installed["lab-slow"] == "2.0"
    assert dpkg_installs(lab, lab_server, "lab-slow") == 2  # 1.0 by the test, 2.0 once
    assert [r["round"] for r in records(tmp_path, "killed") if r["event"] == "run.started"] == [
        1,
        2,
    ]
    assert_whole_journal(tmp_path, "killed")


def test_sigterm_cancels_second_run_is_locked_out_then_resume(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    _slow(lab, lab_server, 5)
    result_file = tmp_path / "result.json"
    command = argv(lab, lab_server, tmp_path, "--run-id", "term", "--result-file", str(result_file))
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    wait_for_event(tmp_path, "term", "plan.selected")
    second = run(lab, lab_server, tmp_path, "--run-id", "other")
    assert second.exit_status == 74 and "held by another run" in second.result["errors"][0]
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=30)
    assert first.returncode == 80 and json.loads(out.splitlines()[-1])["status"] == "cancelled"
    assert json.loads(result_file.read_text())["status"] == "cancelled"
    done = run(lab, lab_server, tmp_path, "--run-id", "term")
    assert done.exit_status == 0 and done.installed["lab-slow"] == "2.0"
    assert_whole_journal(tmp_path, "term")


def test_network_cut_during_streaming(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    _slow(lab, lab_server, 12)
    command = argv(lab, lab_server, tmp_path, "--run-id", "cut")
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_event(tmp_path, "cut", "plan.selected")
    lab.cut(lab_server.name)
    time.sleep(8)
    lab.restore(lab_server.name)
    out, err = job.communicate(timeout=240)
    assert job.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["status"] == "success"
    assert_whole_journal(tmp_path, "cut")


def test_refusals(lab: Lab, shared_server: Server, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    for table, code in (("native", 69), ("wsus", 255)):
        unknown = run(
            lab, shared_server, tmp_path, "--known-hosts", str(empty), "--exit-codes", table
        )
        assert unknown.exit_status == code
        assert "SHA256:" in unknown.result["errors"][0]
        closed = run(lab, f"root@{shared_server.address}:2", tmp_path, "--exit-codes", table)
        assert closed.exit_status == code and "cannot connect" in closed.result["errors"][0]
    bad = tmp_path / "include.txt"
    bad.write_text("lab-base-a\n$(reboot)\n")
    for table, code in (("native", 64), ("wsus", 255)):
        malformed = run(
            lab, shared_server, tmp_path, "--include-file", str(bad), "--exit-codes", table
        )
        assert malformed.exit_status == code and f"{bad}:2" in malformed.stderr


def test_download_only_and_security_only(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    download = run(lab, lab_server, tmp_path, "--download-only")
    assert download.exit_status == 0, download.stderr
    assert {u["status"] for u in download.result["updates"]} == {"downloaded"}
    assert run(lab, lab_server, tmp_path, "--check-only").exit_status == 20  # nothing installed
    security = run(lab, lab_server, tmp_path, "--security-only", "--reboot", "never")
    assert security.exit_status == 0 and list(security.installed) == ["lab-security"]


def test_shared_client_path_is_checked(lab: Lab, shared_server: Server, tmp_path: Path) -> None:
    pushed = run(lab, shared_server, tmp_path, "--check-only")
    assert pushed.exit_status == 20
    share = "/srv/share/patchpilot-client.pyz"
    lab.ssh(
        shared_server.name,
        # the newest pushed client: the one this source tree builds
        [
            "sh",
            "-c",
            'mkdir -p /srv/share && cp "$(ls -t /var/lib/patchpilot/client/*.pyz | '
            f'head -n 1)" {share}',
        ],
    )
    shared = run(lab, shared_server, tmp_path, "--check-only", "--client-path", share)
    assert shared.exit_status == 20, shared.stderr
    lab.ssh(shared_server.name, ["sh", "-c", f"echo tampered >> {share}"])
    refused = run(lab, shared_server, tmp_path, "--check-only", "--client-path", share)
    assert refused.exit_status == 64 and "SHA-256" in refused.result["errors"][0]


def test_inventory_target_and_start_delay(lab: Lab, shared_server: Server, tmp_path: Path) -> None:
    done = run(
        lab,
        shared_server,
        tmp_path,
        "--check-only",
        "--inventory",
        str(lab.inventory_path),
        "--launcher",
        "systemd-run",
        "--start-delay",
        "2",
    )
    assert done.exit_status == 20, done.stderr
    assert done.result["target"] == shared_server.name and done.seconds >= 2
