"""The target's run lock and round files after runs that ended early, on real lab servers.

A run that ends with nothing in flight on the target (a usage error the client reported, a
client the scheduler would not start, a failing `pre` hook) frees the server's lock: the next
run is not locked out (74). A run id whose round already ran on the target from another state
store is refused at once (64), the earlier run's files untouched, instead of mixing the two
runs' journals.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import run

from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

LOCK = "/var/lib/patchpilot/target.lock"


def _is_locked(lab: Lab, server: Server) -> bool:
    return lab.ssh(server.name, ["test", "-e", LOCK], check=False).returncode == 0


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--severity", "critical"), "apt-python has no advisory metadata"),
        # issue 25: apt's metadata has no publication date (--backend auto: the client says so)
        (("--min-age", "7"), "apt-python has no release dates"),
    ],
)
def test_a_usage_error_from_the_client_frees_the_lock(
    lab: Lab, lab_server: Server, tmp_path: Path, option: tuple[str, str], said: str
) -> None:
    refused = run(lab, lab_server, tmp_path, "--run-id", "usage", *option)
    assert refused.exit_status == 64, refused.stderr
    assert said in refused.result["errors"][0]
    assert not _is_locked(lab, lab_server)
    after = run(lab, lab_server, tmp_path, "--run-id", "after", "--check-only")
    assert after.exit_status == 20, after.stderr  # not 74: nobody holds the target


def test_a_client_that_never_started_frees_the_lock(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    # A masked unit of the round's name: systemd-run refuses it, the client never runs.
    lab.ssh(lab_server.name, ["systemctl", "mask", "patchpilot-nostart-r1.service"])
    refused = run(lab, lab_server, tmp_path, "--run-id", "nostart", "--check-only")
    assert refused.exit_status == 71, refused.stderr
    assert not _is_locked(lab, lab_server)
    after = run(lab, lab_server, tmp_path, "--run-id", "after", "--check-only")
    assert after.exit_status == 20, after.stderr


def test_a_failing_pre_hook_frees_the_lock(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    stopped = run(lab, lab_server, tmp_path, "--run-id", "hooked", "--hook-pre", "exit 3")
    assert stopped.exit_status == 81, stopped.stderr
    assert not _is_locked(lab, lab_server)
    after = run(lab, lab_server, tmp_path, "--run-id", "after", "--check-only")
    assert after.exit_status == 20, after.stderr


def test_a_run_id_that_ran_from_another_state_store_is_refused_at_once(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    done = run(lab, lab_server, first, "--run-id", "nightly", "--check-only")
    assert done.exit_status == 20, done.stderr
    folder = "/var/lib/patchpilot/runs/nightly"
    listing = ["sh", "-c", f"cd {folder} && find . -type f | sort | xargs sha256sum"]
    before = lab.ssh(lab_server.name, listing).stdout
    again = run(lab, lab_server, second, "--run-id", "nightly", "--check-only", timeout=90)
    assert again.exit_status == 64, again.stderr
    assert again.seconds < 30, again.seconds  # not the client's ack wait (300 s)
    (error,) = again.result["errors"]
    assert "nightly" in error and "--run-id" in error, error
    assert lab.ssh(lab_server.name, listing).stdout == before  # the earlier run's files kept
    assert not _is_locked(lab, lab_server)
    # The first store still knows its run; a fresh id runs normally from the second store.
    assert run(lab, lab_server, first, "--run-id", "nightly", "--check-only").exit_status == 20
    fresh = run(lab, lab_server, second, "--run-id", "nightly-2", "--check-only")
    assert fresh.exit_status == 20, fresh.stderr
