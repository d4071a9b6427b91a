"""The fleet's frozen plan is checked before any server gets it, and each server says what
security updates it left out (security review, item 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget, final, record

from patchpilot.connector.options import RunOptions
from patchpilot.connector.plan_check import check_plan, security_left_out
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.store import open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.errors import ClientProtocolError


@pytest.mark.parametrize(
    "plan",
    [
        {"lab-a": "2.0-1; rm -rf /"},
        {"../etc/passwd": "1"},
        {"lab-a": ""},
        {"lab-a": 2},
        {"x" * 300: "1"},
        {f"p{n}": "1" for n in range(100_001)},
        {"openssl\n": "3.0"},  # `$` matched before a final newline (issue 21, finding 8)
        {"openssl": "3.0\n"},
        {7: "3.0"},
        ["openssl", "3.0"],  # XCom gives whatever the plan task pushed
        "openssl=3.0",
        None,
    ],
)
def test_a_malformed_plan_is_refused(plan: Any) -> None:
    with pytest.raises(ClientProtocolError, match="the plan from db1"):
        check_plan(plan, "db1")


def test_a_good_plan_passes() -> None:
    plan = {"openssl": "3.0.11-1~deb12u2", "libc6": "2.36-9+deb12u4", "KB5031356": "a1b2-c3"}
    assert check_plan(plan, "db1") == plan


def _scan(seq: int, *updates: tuple[str, bool]) -> dict[str, Any]:
    listed = [{"id": i, "candidate_version": "2", "is_security": s} for i, s in updates]
    return record(seq, "scan.done", updates=listed)


def test_security_updates_left_out_are_found() -> None:
    records = [_scan(2, ("openssl", True), ("lab-a", False), ("libc6", True))]
    assert security_left_out(records, {"lab-a": "2", "libc6": "2"}) == ["openssl"]


async def test_a_server_warns_about_what_the_fleet_plan_left_out(tmp_path: Path) -> None:
    rounds = {
        1: [
            record(1, "run.started"),
            _scan(2, ("openssl", True), ("lab-a", False)),
            record(3, "plan.selected", selected=["lab-a"], plan={"lab-a": "2"}),
            final(4, results=[{"id": "lab-a", "status": "installed", "version": "2"}]),
        ]
    }
    result = await run_target(
        TargetSpec("web1", "web1"),
        RunOptions(run_id="f1.web1", plan={"lab-a": "2"}, stability_window=0),
        store=open_store(tmp_path / "state"),
        on_event=lambda e: None,
        transport=FakeTarget("f1.web1", rounds).transport,
        client=FakeClient.make(tmp_path),
    )
    assert result.exit_code == 0
    assert any("leaves out 1 security update(s) this server offers: openssl" in w
               for w in result.warnings)  # fmt: skip
