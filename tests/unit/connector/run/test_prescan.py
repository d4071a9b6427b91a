"""A later round's plan: a scan that fails for a while is asked again (fault campaign, seed 7)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget, final, record

from patchpilot.connector.events import Event, PhaseStarted, WarningRaised
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run import prescan as prescan_module
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.store import Store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.transports.base import CommandResult


def rounds() -> dict[int, list[dict[str, Any]]]:
    plan = {"lab-servicing": "2"}
    return {
        1: [record(1, "plan.selected", selected=["lab-servicing"], plan=plan),
            final(2, will_reboot=True,
                  results=[{"id": "lab-servicing", "status": "installed", "version": "2"}])],
        2: [record(1, "run.started"),
            final(2, results=[{"id": "lab-stage2-x", "status": "installed", "version": "2"}])],
        3: [record(1, "run.started"), final(2, status="nothing", results=[])],
    }  # fmt: skip


@dataclass
class FlakyScan(FakeTarget):
    """The first `failures` scans fail (sshd stopped, the cache full), then it answers."""

    failures: int = 0

    def handle(self, argv: tuple[str, ...], stdin: bytes | None) -> CommandResult | tuple[int, str]:
        if "scan" in argv and self.failures > 0:
            self.failures -= 1
            return 1, ""
        return super().handle(argv, stdin)


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


@pytest.mark.parametrize(("failures", "joins"), [(2, True), (99, False)])
async def test_a_failing_scan_is_asked_again_before_the_round_runs_on_the_frozen_plan(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int, joins: bool
) -> None:
    monkeypatch.setattr(prescan_module, "PRESCAN_PATIENCE", 3.0)
    monkeypatch.setattr(prescan_module, "_AGAIN", prescan_module.Backoff(first=0.5, factor=1))
    target = FlakyScan("r1", rounds(), scan=[{"id": "lab-stage2-x", "candidate_version": "2"}],
                       failures=failures)  # fmt: skip
    events: list[Event] = []
    await run_target(TargetSpec("web1", "web1"), RunOptions(run_id="r1", stability_window=0),
                     store=store, on_event=events.append, transport=target.transport,
                     client=FakeClient.make(tmp_path))  # fmt: skip
    job = target.transport.files["/var/lib/patchpilot/runs/r1/round-2/job.json"][0]
    assert ("lab-stage2-x" in json.loads(job)["selection"]["plan"]) is joins
    retries = [e for e in events if isinstance(e, PhaseStarted) and e.phase == "prescan.retry"]
    warned = [e for e in events if isinstance(e, WarningRaised) and "could not list" in e.message]
    assert len(retries) == 2 if joins else len(retries) >= 4  # asked until the patience ran out
    assert bool(warned) is not joins
