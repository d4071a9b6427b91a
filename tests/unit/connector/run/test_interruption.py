"""An interrupted round (reset, client killed) is detected, recorded and run again (issue 22)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget, final, record

from patchpilot.connector.events import Event, PhaseStarted
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.interruption import interruptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.store import Store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.transports.base import CommandResult

TARGET = TargetSpec("web1", "web1")
PLAN = {"lab-a": "2", "lab-b": "3"}


def rounds(count: int) -> dict[int, list[dict[str, Any]]]:
    """Rounds 1..count-1 end without a final record (cut); the last one finishes."""
    cut = [
        record(1, "run.started"),
        record(2, "plan.selected", selected=sorted(PLAN), plan=PLAN),
        record(3, "progress", stage="install", percent=40.0),
    ]
    done = [
        record(1, "run.started"),
        final(
            2,
            results=[
                {"id": "lab-a", "status": "installed", "version": "2",
                 "message": "installed before round 1 was interrupted"},
                {"id": "lab-b", "status": "installed", "version": "3"},
            ],
        ),
    ]  # fmt: skip
    return {**{n: cut for n in range(1, count)}, count: done}


@dataclass
class CutTarget(FakeTarget):
    """Rounds in `cut` lose their client: "reset" reboots the target at launch, "kill" ends
    the client's unit with SIGKILL; their state.json stays at "installing"."""

    cut: dict[int, str] = field(default_factory=dict)
    resets: int = 0
    hang_from: int | None = None  # rounds from this one on stop sending after one record

    def handle(self, argv: tuple[str, ...], stdin: bytes | None) -> CommandResult | tuple[int, str]:
        if argv[0] == "cat" and argv[1].endswith("state.json"):
            round_no = int(argv[1].split("round-")[1].split("/")[0])
            if self.cut.get(round_no, "").endswith("-at-start") and round_no in self.launched:
                return 1, ""  # the client never wrote its state: the reset or kill came first
            if round_no in self.cut and round_no in self.launched:
                return 0, json.dumps({"phase": "installing", "exit_status": None})
        if argv[:2] == ("systemctl", "show"):
            round_no = int(argv[2].rsplit("-r", 1)[1].split(".")[0])
            if self.cut.get(round_no) == "reset-at-start":
                return 0, "LoadState=not-found\nActiveState=inactive\n"
            if self.cut.get(round_no, "").startswith("kill"):
                return 0, (
                    "LoadState=loaded\nActiveState=active\nSubState=exited\n"
                    "ExecMainCode=2\nExecMainStatus=9\n"
                )
        reply = super().handle(argv, stdin)
        if argv[0] != "systemd-run" or argv[1] == "--version":
            return reply
        if self.hang_from and self.launched[-1] >= self.hang_from:
            self.hang_after = 1
        if self.cut.get(self.launched[-1], "").startswith("reset"):
            self.resets += 1
            self.boot_id = f"boot-reset-{self.resets}"
        return reply


def job(target: FakeTarget, round_no: int) -> dict[str, Any]:
    path = f"/var/lib/patchpilot/runs/r1/round-{round_no}/job.json"
    return json.loads(target.transport.files[path][0])


async def run(target: FakeTarget, store: Store, tmp_path: Path, **extra: Any) -> Any:
    events: list[Event] = []
    result = await run_target(
        TARGET,
        RunOptions(**{"run_id": "r1", "stability_window": 0, "reboot": "never", **extra}),
        store=store,
        on_event=events.append,
        transport=target.transport,
        client=FakeClient.make(tmp_path),
    )
    return result, events


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


def after_reset() -> dict[int, list[dict[str, Any]]]:
    """Round 1 cut by a reset, round 2 runs it again, round 3 finds what that reboot brought."""
    third = [record(1, "run.started"), final(2, results=[
        {"id": "lab-stage2-x", "status": "installed", "version": "2"}])]  # fmt: skip
    return {**rounds(2), 3: third}


async def test_a_reset_mid_round_is_recovered_with_the_same_plan(
    store: Store, tmp_path: Path
) -> None:
    target = CutTarget("r1", after_reset(), cut={1: "reset"},
                       scan=[{"id": "lab-stage2-x", "candidate_version": "2"}])  # fmt: skip
    result, events = await run(target, store, tmp_path)
    assert result.outcome is Outcome.SUCCESS and result.exit_code == 0
    # round 3: the reset rebooted the server after round 1's installs, so, as after a
    # requested reboot, another round looks for what it brought (found by the fault
    # campaign, seed 2: a zypper server ended exit 0 without lab-stage2-x)
    assert target.launched == [1, 2, 3]
    assert job(target, 3)["selection"]["plan"]["lab-stage2-x"] == "2"
    assert "recovery" not in job(target, 3)
    assert job(target, 2)["selection"]["plan"] == PLAN
    assert job(target, 2)["recovery"] == {"round": 1, "planned": PLAN}
    assert [r.status for r in result.rounds] == ["interrupted", "success", "success"]
    (cut,) = result.interruptions
    assert cut["round"] == 1 and cut["rebooted"] is True
    assert "rebooted unasked" in cut["cause"] and "boot-1 -> boot-reset-1" in cut["cause"]
    assert "progress" in cut["done_before"] and "percent=40.0" in cut["done_before"]
    assert {u["id"]: u["status"] for u in result.updates} == {
        "lab-a": "installed",
        "lab-b": "installed",
        "lab-stage2-x": "installed",
    }
    phases = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert "reboot.boot_id_change" in phases and "interrupted.back" in phases
    assert result.to_dict()["interruptions"][0]["round"] == 1


async def test_a_reset_as_the_client_starts_is_an_interruption_not_a_launch_timeout(
    store: Store, tmp_path: Path
) -> None:
    """Found by the fault campaign (seed 2): a server reset right after systemd-run took the
    unit with it before the client wrote its state; the launch waited out its timeout and
    the run ended with 75 instead of running the round again."""
    target = CutTarget("r1", after_reset(), cut={1: "reset-at-start"})
    result, _ = await run(target, store, tmp_path, launch_timeout=30)
    assert result.exit_code == 0 and target.launched == [1, 2, 3]
    (cut,) = result.interruptions
    assert cut["rebooted"] is True and cut["done_before"] == "nothing journaled past the start"


async def test_a_reset_in_a_later_round_is_followed_by_a_scan_even_when_nothing_was_left(
    store: Store, tmp_path: Path
) -> None:
    """Found by the fault campaign (seed 14): round 2 reset before it journaled anything; the
    round run again on the frozen plan found nothing, and the run ended exit 0 without the
    update round 2 was to install (lab-stage2-x)."""
    first = [
        record(1, "plan.selected", selected=["lab-a"], plan={"lab-a": "2"}),
        final(
            2, will_reboot=True, results=[{"id": "lab-a", "status": "installed", "version": "2"}]
        ),
    ]
    nothing = [record(1, "run.started"), final(2, status="nothing", results=[])]
    stage2 = [
        record(1, "run.started"),
        final(2, results=[{"id": "lab-stage2-x", "status": "installed", "version": "2"}]),
    ]
    target = CutTarget(
        "r1",
        {1: first, 2: [record(1, "run.started")], 3: nothing, 4: stage2},
        cut={2: "reset"},
        scan=[{"id": "lab-stage2-x", "candidate_version": "2"}],
    )
    result, _ = await run(target, store, tmp_path, reboot="if-required")  # fmt: skip
    assert result.exit_code == 0 and target.launched == [1, 2, 3, 4]
    assert {u["id"] for u in result.updates if u["status"] == "installed"} == {
        "lab-a", "lab-stage2-x"}  # fmt: skip


async def test_a_reset_then_a_kill_is_still_followed_by_a_scan_for_what_the_reset_brought(
    store: Store, tmp_path: Path
) -> None:
    """Found by CI's fault campaign (seed 7, --max-interruptions 5): round 2 reset, round 3
    (running it again) killed, round 4 found everything installed; the reset's reboot had
    brought lab-stage2-x, but only a round right after the reset counted as following a
    reboot, and the run ended exit 0 without it."""
    stage2 = [
        record(1, "run.started"),
        final(2, results=[{"id": "lab-stage2-x", "status": "installed", "version": "2"}]),
    ]
    target = CutTarget(
        "r1", {**rounds(3), 4: stage2}, cut={1: "reset", 2: "kill"},
        scan=[{"id": "lab-stage2-x", "candidate_version": "2"}],
    )  # fmt: skip
    result, _ = await run(target, store, tmp_path, reboot="if-required")
    assert result.exit_code == 0 and target.launched == [1, 2, 3, 4]
    assert "lab-stage2-x" in {u["id"] for u in result.updates if u["status"] == "installed"}


async def test_a_later_round_run_again_keeps_what_its_scan_added_to_the_plan(
    store: Store, tmp_path: Path
) -> None:
    """Found by the fault campaign (apt seed 22): round 2, after the servicing reboot, was
    killed in its repair; round 3 ran it again on round 1's frozen plan, without the update
    round 2's scan had added, and the run ended exit 0 without lab-stage2-x."""
    first = [
        record(1, "run.started"),
        record(2, "plan.selected", selected=sorted(PLAN), plan=PLAN),
        final(3, will_reboot=True, results=[
            {"id": "lab-a", "status": "installed", "version": "2"},
            {"id": "lab-b", "status": "installed", "version": "3"}]),
    ]  # fmt: skip
    stage2 = [record(1, "run.started"), final(2, results=[
        {"id": "lab-stage2-x", "status": "installed", "version": "2"}])]  # fmt: skip
    target = CutTarget(
        "r1", {1: first, 2: [record(1, "run.started")], 3: stage2}, cut={2: "kill"},
        scan=[{"id": "lab-stage2-x", "candidate_version": "2"}],
    )  # fmt: skip
    result, _ = await run(target, store, tmp_path, reboot="if-required")
    assert job(target, 3)["selection"]["plan"] == {**PLAN, "lab-stage2-x": "2"}
    assert result.exit_code == 0 and target.launched == [1, 2, 3]
    assert "lab-stage2-x" in {u["id"] for u in result.updates if u["status"] == "installed"}


async def test_a_killed_client_is_recovered_and_its_unit_cleared_after(
    store: Store, tmp_path: Path
) -> None:
    target = CutTarget("r1", rounds(2), cut={1: "kill"})
    result, _ = await run(target, store, tmp_path)
    assert result.exit_code == 0 and target.launched == [1, 2]
    (cut,) = result.interruptions
    assert cut["rebooted"] is False and "killed by signal 9" in cut["cause"]
    stops = [c for c in target.transport.commands if c[:2] == ("systemctl", "stop")]
    assert any("patchpilot-r1-r1.service" in c for c in stops)  # cleared after round 2


async def test_a_client_killed_before_it_wrote_its_state_is_an_interruption_not_a_failure(
    store: Store, tmp_path: Path
) -> None:
    """Found by CI's fault campaign (seed 7): kill -9 of the client 0.3 s after systemd-run,
    before its state.json; the run ended 77 ("exited with status 137") instead of running
    the round again."""
    target = CutTarget("r1", {**rounds(2), 1: [record(1, "run.started")]}, cut={1: "kill-at-start"})
    result, _ = await run(target, store, tmp_path)
    assert result.exit_code == 0 and target.launched == [1, 2]
    (cut,) = result.interruptions
    assert cut["rebooted"] is False and "killed by signal 9" in cut["cause"]


async def test_more_interruptions_than_allowed_end_the_run_with_78(
    store: Store, tmp_path: Path
) -> None:
    target = CutTarget("r1", rounds(3), cut={1: "kill", 2: "reset"})
    result, _ = await run(target, store, tmp_path, max_interruptions=1)
    assert result.outcome is Outcome.INTERRUPTED and result.exit_code == 78
    assert target.launched == [1, 2]
    assert [i["round"] for i in result.interruptions] == [1, 2]
    assert "--max-interruptions 1" in result.errors[0]


@pytest.mark.parametrize("last", ["kill", "reset"])
async def test_a_run_ended_at_the_limit_reports_what_the_server_holds(
    store: Store, tmp_path: Path, last: str
) -> None:
    # fault campaign, seeds 5 and 25: the cut rounds had installed packages, the result of
    # the 78 listed none (the round that would have read them never ran)
    target = CutTarget("r1", rounds(3), cut={1: "kill", 2: last}, installed={"lab-a": "2"})
    result, _ = await run(target, store, tmp_path, max_interruptions=1)
    assert result.exit_code == 78 and target.launched == [1, 2]
    (found,) = result.updates
    assert (found["id"], found["status"], found["version"]) == ("lab-a", "installed", "2")
    assert found["message"].startswith("found installed at the run's end")
    assert result.counts["installed"] == 1


async def test_interruptions_do_not_count_against_max_rounds(store: Store, tmp_path: Path) -> None:
    target = CutTarget("r1", rounds(3), cut={1: "kill", 2: "kill"})
    result, _ = await run(target, store, tmp_path, max_rounds=1)
    assert result.exit_code == 0 and target.launched == [1, 2, 3]
    assert job(target, 3)["recovery"]["round"] == 2


async def test_a_connector_killed_after_an_interruption_resumes_with_the_same_run_id(
    store: Store, tmp_path: Path
) -> None:
    target = CutTarget("r1", after_reset(), cut={1: "reset"}, hang_from=2)
    task = asyncio.ensure_future(run(target, store, tmp_path))
    while store.last_seq("r1", 2) < 1:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    target.endpoints.clear()
    target.hang_after = target.hang_from = None
    result, _ = await run(target, store, tmp_path)
    assert result.exit_code == 0 and target.launched == [1, 2, 3]  # none launched twice
    assert [i["round"] for i in result.interruptions] == [1]
    assert [r.status for r in result.rounds] == ["interrupted", "success", "success"]


def test_interruptions_are_read_from_the_connectors_records() -> None:
    body = {"event": "round.interrupted", "fields": {"round": 2, "cause": "x", "at": "t",
            "rebooted": True, "done_before": "d", "planned": {"a": "1"}}}  # fmt: skip
    (found,) = interruptions([body, {"event": "hook.done", "fields": {}}])
    assert found.round == 2 and found.is_rebooted and found.planned == {"a": "1"}
    assert found.to_dict() == {
        "round": 2, "cause": "x", "at": "t", "rebooted": True, "done_before": "d"
    }  # fmt: skip
