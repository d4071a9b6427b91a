"""--reboot services on the connector: the run's services record from untrusted round
records, the failure (exit 83) of a service that did not come back, the options."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from patchpilot.cli.render import service_lines
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.service_restarts import (
    MAX_UNITS,
    check_restarts,
    kept_warnings,
    merge_services,
)
from patchpilot.errors import HealthError

ROUND_1 = {
    "restarted": [{"unit": "lab-svcd.service", "old_pid": 10, "new_pid": 20}, {"unit": 5}],
    "failed": [{"unit": "bad.service", "message": "not active 10 s after its restart (failed)"}],
    "kept": [{"unit": "dbus.service", "why": "kept by default"}],
    "reboot": "no reboot needed: ...",
}


def test_merge_keeps_what_is_well_formed_with_its_round() -> None:
    merged = merge_services([(1, ROUND_1), (2, {"restarted": "junk", "reboot": 7})])
    assert merged["restarted"] == [
        {"unit": "lab-svcd.service", "round": 1, "old_pid": 10, "new_pid": 20}
    ]
    assert merged["failed"][0]["round"] == 1 and merged["kept"][0]["why"] == "kept by default"
    assert merged["reboot"] == [
        {"round": 1, "why": "no reboot needed: ..."},
        {"round": 2, "why": "7"},
    ]
    assert merge_services([]) == {}
    assert merge_services([(1, {"restarted": [{"unit": "x", "old_pid": True}]})])["restarted"] == [
        {"unit": "x", "round": 1, "old_pid": None, "new_pid": None}
    ]


def test_a_hostile_round_cannot_flood_the_result() -> None:
    flood = {"kept": [{"unit": "u" * 10_000, "why": "w" * 10_000}] * 100_000}
    kept = merge_services([(1, flood)])["kept"]
    assert len(kept) == MAX_UNITS
    assert (len(kept[0]["unit"]), len(kept[0]["why"])) == (256, 500)


def test_a_service_not_back_in_the_last_round_fails_the_run_83() -> None:
    merged = merge_services([(1, ROUND_1)])
    with pytest.raises(HealthError, match=r"1 service\(s\) did not come back.*bad.service") as e:
        check_restarts(merged, 1)
    assert e.value.exit_code == 83
    check_restarts(merged, 2)  # a later round (after a reboot) renewed it
    check_restarts({}, 1)


def test_units_left_on_replaced_files_are_warnings() -> None:
    merged = merge_services([(1, ROUND_1)])
    assert kept_warnings(merged, 1) == [
        "dbus.service still runs replaced files, not restarted: kept by default"
    ]
    assert kept_warnings(merged, 2) == [] and kept_warnings({}, 1) == []


def test_job_output_lines() -> None:
    lines = service_lines(merge_services([(1, ROUND_1)]))
    assert lines == [
        "lab-svcd.service: restarted (pid 10 -> 20)",
        "bad.service: restart FAILED: not active 10 s after its restart (failed)",
        "dbus.service: not restarted (kept by default)",
        "round 1: no reboot needed: ...",
    ]


def test_options_reach_the_job_spec_and_windows_refuses_them() -> None:
    options = RunOptions(reboot="services", no_restart=("myapp*",), install_needrestart=True)
    assert options.restart_spec() == {"restart": {"no_restart": ["myapp*"], "install_tool": True}}
    assert RunOptions().restart_spec() == {} and RunOptions().restart_warnings() == []
    assert RunOptions(no_restart=("x",)).restart_warnings() == [
        "--no-restart and --install-needrestart apply only with --reboot services"
    ]
    with pytest.raises(ValidationError, match="--reboot services restarts systemd units"):
        RunOptions(os="windows", reboot="services")
    with pytest.raises(ValidationError, match="not a systemd unit name"):
        RunOptions(reboot="services", no_restart=("a b; rm",))
