"""The target's run lock around a run's rounds, and the refusal of a run id the target knows
from another state store (connector/run/prepare.py), against a scripted target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget, final, record
from test_runner import down_after_round_one, two_rounds

from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.store import Store, open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.transports.base import CommandResult

STATE = "/var/lib/patchpilot/runs/r1/round-1/state.json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "state")
    yield opened
    opened.close()


async def _run(target: FakeTarget, store: Store, tmp_path: Path, **extra: Any) -> RunResult:
    return await run_target(
        TargetSpec("web1", "web1"),
        RunOptions(run_id="r1", stability_window=0, **extra),
        store=store,
        on_event=lambda event: None,
        transport=target.transport,
        client=FakeClient.make(tmp_path),
    )


def _calls(target: FakeTarget, command: str) -> int:
    return sum(1 for argv in target.transport.commands if command in argv)


def _error_round(message: str) -> dict[int, list[dict[str, Any]]]:
    fields = {"status": "error", "message": message, "will_reboot": False, "results": []}
    return {1: [record(1, "run.started"), record(2, "round.result", "error", **fields)]}


async def test_a_usage_error_the_client_reported_frees_the_lock(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", _error_round("SelectionUnsupported: apt has no advisories"))
    result = await _run(target, store, tmp_path)
    assert result.exit_code == 64 and "apt has no advisories" in result.errors[0]
    assert _calls(target, "lock") == 1 and _calls(target, "unlock") == 1


async def test_a_refused_job_spec_frees_the_lock(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", {1: []})  # no record: the client refused the spec (exit 2)

    def refused(argv: tuple[str, ...], stdin: bytes | None) -> CommandResult | tuple[int, str]:
        if argv[-1] == STATE and target.launched:
            return 0, json.dumps({"phase": "failed", "exit_status": 2})
        return target.handle(argv, stdin)

    target.transport.handler = refused
    result = await _run(target, store, tmp_path)
    assert result.outcome is Outcome.CLIENT_FAILED and "refused the job spec" in result.errors[0]
    assert _calls(target, "unlock") == 1


async def test_a_client_the_scheduler_would_not_start_frees_the_lock(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds())

    def masked(argv: tuple[str, ...], stdin: bytes | None) -> CommandResult | tuple[int, str]:
        if argv[0] == "systemd-run" and argv[1] != "--version":
            return 1, "Unit patchpilot-r1-r1.service is masked."
        if argv[:2] == ("systemctl", "show"):
            return 0, "LoadState=masked\nActiveState=inactive\n"
        return target.handle(argv, stdin)

    target.transport.handler = masked
    result = await _run(target, store, tmp_path)
    assert result.exit_code == 71 and _calls(target, "unlock") == 1


async def test_a_failing_pre_hook_frees_the_lock(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", two_rounds())
    result = await _run(target, store, tmp_path, local_hook_pre="exit 3")
    assert result.exit_code == 81 and target.launched == []
    assert _calls(target, "unlock") == 1


async def test_a_target_that_may_still_be_rebooting_keeps_the_lock(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds())
    target.transport.handler = down_after_round_one(target)
    result = await _run(target, store, tmp_path, reboot_timeout=0.05)
    assert result.exit_code == 73 and _calls(target, "unlock") == 0


async def test_a_run_id_whose_round_ran_from_another_store_is_refused(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", {1: [record(1, "run.started"), final(2, results=[])]})
    target.launched.append(1)  # the earlier run's round 1: its state.json is on the target
    result = await _run(target, store, tmp_path)
    assert result.exit_code == 64 and "run id r1 already ran on this target" in result.errors[0]
    assert "--run-id" in result.errors[0]
    assert target.launched == [1] and _calls(target, "lock") == 0  # nothing touched
    assert not any(path.endswith("job.json") for path in target.transport.files)
