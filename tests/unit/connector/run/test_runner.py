"""run_target end to end against a scripted target: rounds, reboot, resume, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget, final, record

from patchpilot.cli.run import status_lines
from patchpilot.connector.events import Event, JournalRecord
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, RunRow, Store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.errors import ConnectError, TransportTimeout
from patchpilot.transports.fake import FakeTransport

TARGET = TargetSpec("web1", "web1")


def two_rounds() -> dict[int, list[dict[str, Any]]]:
    return {
        1: [
            record(1, "run.started"),
            record(
                2,
                "plan.selected",
                selected=["lab-a", "lab-kernel"],
                plan={"lab-a": "2", "lab-kernel": "6"},
            ),
            record(3, "update.result", id="lab-a", status="installed", version="2"),
            final(
                4,
                will_reboot=True,
                results=[
                    {"id": "lab-a", "status": "installed", "version": "2"},
                    {"id": "lab-kernel", "status": "installed", "version": "6"},
                ],
            ),
        ],
        2: [
            record(1, "run.started"),
            final(2, results=[{"id": "lab-stage2-x", "status": "installed", "version": "1"}]),
        ],
        3: [record(1, "run.started"), final(2, status="nothing", results=[])],
    }


def options(**extra: Any) -> RunOptions:
    return RunOptions(run_id="r1", stability_window=0, **extra)


async def run(target: FakeTarget, store: Store, tmp_path: Path, **extra: Any) -> Any:
    events: list[Event] = []
    result = await run_target(
        TARGET,
        options(**extra),
        store=store,
        on_event=events.append,
        transport=target.transport,
        client=FakeClient.make(tmp_path),
    )
    return result, events


def down_after_round_one(target: FakeTarget) -> Any:
    """Return a handler for which the target stops answering boot-id reads once round 1 acked."""

    def down(argv: tuple[str, ...], stdin: bytes | None) -> Any:
        endpoint = target.endpoints.get(1)
        if argv[-1] == "/proc/sys/kernel/random/boot_id" and endpoint and endpoint.acks:
            return 255, ""
        return target.handle(argv, stdin)

    return down


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    """The store on each backend: every runner test runs against SQLite and PostgreSQL."""
    return open_store()


async def test_full_cycle_reboot_then_second_round(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", two_rounds(), scan=[{"id": "lab-stage2-x", "candidate_version": "1"}])
    result, events = await run(target, store, tmp_path)
    assert result.outcome is Outcome.SUCCESS and result.exit_code == 0
    assert target.launched == [1, 2]
    assert [u["id"] for u in result.updates] == ["lab-a", "lab-kernel", "lab-stage2-x"]
    assert len(result.reboots) == 1 and result.reboots[0].boot_id_after == "boot-2"
    printed = [(e.round, e.record["seq"]) for e in events if isinstance(e, JournalRecord)]
    # round 0 is the connector's own journal: the interpreter it chose, before round 1
    assert printed == [(0, 1), (1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2)]
    job2 = json.loads(target.transport.files["/var/lib/patchpilot/runs/r1/round-2/job.json"][0])
    assert job2["selection"]["plan"] == {"lab-a": "2", "lab-kernel": "6", "lab-stage2-x": "1"}


@pytest.mark.parametrize("is_late", [False, True])
async def test_a_plan_chosen_elsewhere_bounds_round_one_and_is_stored(
    store: Store, tmp_path: Path, is_late: bool
) -> None:
    """The run's row is not read back after its plan is stored: what round 1's job spec and
    the store hold must still be that plan (given up front, or by plan_later)."""
    plan = {"lab-a": "2", "lab-kernel": "6"}
    target = FakeTarget("r1", two_rounds(), scan=[{"id": "lab-stage2-x", "candidate_version": "1"}])

    async def plan_later() -> dict[str, str]:
        return plan

    result = await run_target(
        TARGET,
        options(plan=None if is_late else plan),
        store=store,
        on_event=lambda event: None,
        transport=target.transport,
        client=FakeClient.make(tmp_path),
        plan_later=plan_later if is_late else None,
    )
    assert result.outcome is Outcome.SUCCESS
    job1 = json.loads(target.transport.files["/var/lib/patchpilot/runs/r1/round-1/job.json"][0])
    assert job1["selection"]["plan"] == plan
    assert store.run("r1").frozen_plan == plan  # type: ignore[union-attr]
    assert store.run("r1").status == "success"  # type: ignore[union-attr]


async def test_hooks_are_told_the_updates_applied_so_far(store: Store, tmp_path: Path) -> None:
    """A point's environment is only built when it has hooks: when it has, it still says
    what every round so far installed and whether a reboot is pending."""
    seen = tmp_path / "seen"
    line = (
        "$PATCHPILOT_HOOK $PATCHPILOT_ROUND $PATCHPILOT_UPDATES_APPLIED $PATCHPILOT_REBOOT_PENDING"
    )
    hook = f'echo "{line}" >> {seen}'
    target = FakeTarget("r1", two_rounds(), scan=[{"id": "lab-stage2-x", "candidate_version": "1"}])
    result, _ = await run(
        target,
        store,
        tmp_path,
        local_hook_pre=hook,
        local_hook_pre_reboot=hook,
        local_hook_post_reboot=hook,
        local_hook_post=hook,
    )
    assert result.outcome is Outcome.SUCCESS
    assert seen.read_text().splitlines() == [
        "pre 1  0",
        "pre-reboot 1 lab-a lab-kernel 1",
        "post-reboot 1 lab-a lab-kernel 0",
        "post 2 lab-a lab-kernel lab-stage2-x 0",
    ]


async def test_wsus_codes_for_the_same_cycle(store: Store, tmp_path: Path) -> None:
    result, _ = await run(FakeTarget("r1", two_rounds()), store, tmp_path, exit_codes="wsus")
    assert result.exit_code in (110, 115)


async def test_secret_only_in_job_file_not_in_argv(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", two_rounds())
    result, events = await run(target, store, tmp_path)
    secret = store.run("r1").secret.reveal()  # type: ignore[union-attr]
    assert all(secret not in " ".join(argv) for argv in target.transport.commands)
    assert secret not in result.to_json_line() and secret not in json.dumps(store.result("r1"))
    assert all(secret not in f"{e!r} {e}" for e in events)
    shown = status_lines(store, None) + status_lines(store, "r1")
    assert all(secret not in line for line in shown)
    data, mode = target.transport.files["/var/lib/patchpilot/runs/r1/round-1/job.json"]
    assert secret in data.decode() and mode == 0o600


async def test_finished_run_returns_stored_result(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", two_rounds())
    first, _ = await run(target, store, tmp_path)
    again, events = await run(target, store, tmp_path)
    assert again.to_dict()["updates"] == first.to_dict()["updates"]
    assert target.launched == [1, 2] and events == []


async def test_resume_after_kill_mid_stream_never_launches_twice(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds(), hang_after=2)
    task = asyncio.ensure_future(run(target, store, tmp_path))
    while store.last_seq("r1", 1) < 2:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.result("r1")["outcome"] == "cancelled"  # type: ignore[index]
    target.endpoints.clear()
    target.hang_after = None
    result, _events = await run(target, store, tmp_path)
    assert result.outcome is Outcome.SUCCESS
    assert target.launched == [1, 2]
    assert [r["seq"] for r in store.records("r1", 1)] == [1, 2, 3, 4]


async def test_locked_target(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", two_rounds(), is_held=True)
    result, _ = await run(target, store, tmp_path)
    assert result.outcome is Outcome.LOCKED and result.exit_code == 74
    assert target.launched == []


async def test_failed_update_is_partial(store: Store, tmp_path: Path) -> None:
    rounds = {
        1: [
            final(
                1,
                results=[
                    {"id": "lab-a", "status": "installed"},
                    {"id": "lab-fail", "status": "failed", "message": "boom"},
                ],
            )
        ]
    }
    result, _ = await run(FakeTarget("r1", rounds), store, tmp_path)
    assert result.outcome is Outcome.PARTIAL and result.exit_code == 30
    assert result.counts["failed"] == 1 and result.counts["installed"] == 1


async def test_client_error_round(store: Store, tmp_path: Path) -> None:
    rounds = {
        1: [
            record(
                1,
                "round.result",
                "error",
                status="error",
                message="E: dpkg broke",
                will_reboot=False,
                results=[],
            )
        ]
    }
    target = FakeTarget("r1", rounds)
    result, _ = await run(target, store, tmp_path)
    assert result.outcome is Outcome.CLIENT_FAILED and "dpkg broke" in result.errors[0]
    # its failed unit is cleared: the client ended the round, nothing is in flight
    assert ("systemctl", "reset-failed", "patchpilot-r1-r1.service") in target.transport.commands


async def test_never_comes_back(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", two_rounds())

    target.transport.handler = down_after_round_one(target)
    result, _ = await run(target, store, tmp_path, reboot_timeout=0.05)
    assert result.outcome is Outcome.NOT_BACK and result.exit_code == 73
    assert "did not come back" in result.errors[0] and result.phase == "reboot.boot_id_change"
    assert [u["id"] for u in result.updates] == ["lab-a", "lab-kernel"]  # round 1 still counts


async def test_update_offered_again_is_a_loop_not_retried(store: Store, tmp_path: Path) -> None:
    target = FakeTarget(
        "r1",
        two_rounds(),
        scan=[
            {"id": "lab-a", "candidate_version": "2"},
            {"id": "lab-stage2-x", "candidate_version": "1"},
        ],
    )
    result, _ = await run(target, store, tmp_path)
    job2 = json.loads(target.transport.files["/var/lib/patchpilot/runs/r1/round-2/job.json"][0])
    assert "lab-a" in job2["selection"]["exclude"]
    assert any("update loop: lab-a" in w for w in result.warnings)


async def test_whole_job_timeout_names_the_job(store: Store, tmp_path: Path) -> None:
    target = FakeTarget("r1", two_rounds(), hang_after=1)
    result, _ = await run(target, store, tmp_path, timeout=0.3)
    assert result.outcome is Outcome.TIMEOUT and result.phase == "job"
    assert result.exit_code == 75


async def test_a_command_timing_out_before_round_one_names_its_phase(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds())

    def stale_share(argv: tuple[str, ...], stdin: bytes | None) -> Any:
        if argv[0] == "sha256sum":
            raise TransportTimeout("sha256sum timed out after 60 s")
        return target.handle(argv, stdin)

    target.transport.handler = stale_share
    result, _ = await run(target, store, tmp_path)
    assert result.outcome is Outcome.TIMEOUT and result.exit_code == 75
    assert result.phase == "prepare.deploy"
    assert target.launched == []


def refuse_connects(target: FakeTarget, times: int, message: str) -> list[int]:
    """Make the target's next `times` connects fail with message; return the count left
    (one list item, read after the run)."""
    left = [times]

    async def connect() -> None:
        if left[0]:
            left[0] -= 1
            raise ConnectError(message)

    target.transport.connect = connect  # type: ignore[method-assign]
    return left


async def test_resumed_mid_reboot_waits_for_the_target_to_answer_again(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds(), scan=[{"id": "lab-stage2-x", "candidate_version": "1"}])

    target.transport.handler = down_after_round_one(target)
    task = asyncio.ensure_future(run(target, store, tmp_path))
    while not any(r.phase == "rebooting" for r in store.rounds("r1")):
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    target.transport.handler = target.handle
    refusals = refuse_connects(target, 2, "connection refused")
    result, _ = await run(target, store, tmp_path)
    assert refusals == [0]
    assert result.outcome is Outcome.SUCCESS and target.launched == [1, 2]


async def test_resumed_mid_stream_waits_for_the_target_to_answer_again(
    store: Store, tmp_path: Path
) -> None:
    """Found by the fault campaign (seed 10): a connector restarted while its server's link
    was cut ended 69 at once, its client installing on; a round in flight waits instead."""
    target = FakeTarget("r1", two_rounds(), hang_after=2)
    task = asyncio.ensure_future(run(target, store, tmp_path))
    while store.last_seq("r1", 1) < 2:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    target.endpoints.clear()
    target.hang_after = None
    refusals = refuse_connects(target, 2, "connect timed out")
    result, _ = await run(target, store, tmp_path)
    assert refusals == [0]
    assert result.outcome is Outcome.SUCCESS and target.launched == [1, 2]


class _SwallowingTransport(FakeTransport):
    """A server still down, whose failed connect hides the task's cancellation (as Python
    3.11's asyncio.wait_for inside asyncssh.connect does when both happen at once)."""

    def __init__(self) -> None:
        super().__init__(lambda argv, stdin: (255, ""))
        self.attempts = 0

    async def connect(self) -> None:
        self.attempts += 1
        if self.attempts == 2:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # swallowed, as wait_for does
                await asyncio.sleep(0)
        raise ConnectError("connection refused")


async def test_a_cancelled_run_waiting_for_its_server_stops(store: Store, tmp_path: Path) -> None:
    """A run resumed mid-reboot retries the connection; a cancellation still ends it."""
    stored = options(reboot_timeout=600)
    secret = Secret("s" * 64)
    row = RunRow("r1", "web1", "install", stored.model_dump_json(), secret, "running", None,
                 "t0", None, None)  # fmt: skip
    store.create_run(row)
    store.save_round(RoundRow("r1", 1, "rebooting", "systemd-run", "u", "boot-1"))
    transport = _SwallowingTransport()
    client = FakeClient.make(tmp_path)
    events: list[Event] = []
    job = run_target(
        TARGET, stored, store=store, on_event=events.append, transport=transport, client=client
    )
    async with asyncio.timeout(30):
        with pytest.raises(asyncio.CancelledError):
            await job
    assert transport.attempts == 2 and events[-1].kind == "run.end"
    assert store.result("r1")["outcome"] == "cancelled"  # type: ignore[index]


async def test_a_round_flooding_its_journal_fails_alone_and_bounds_the_store(
    store: Store, tmp_path: Path
) -> None:
    """250 records of ~1 MiB made a 242 MB state dir; now the round stops at 64 MiB: exit 72."""
    flood = [record(seq, "apt.output", line="x" * 1_000_000) for seq in range(1, 100)]
    result, _ = await run(FakeTarget("r1", {1: [*flood, final(100, results=[])]}), store, tmp_path)
    assert result.outcome is Outcome.CLIENT_PROTOCOL and result.exit_code == 72
    assert "journal passed 67,108,864 bytes (at record 68)" in result.errors[0]
    assert store.journal_size("r1", 1)[1] <= 64 * 1024 * 1024  # on either backend


@pytest.mark.parametrize("check_only", [True, False])
async def test_held_and_too_young_updates_are_reported_not_pending(
    store: Store, tmp_path: Path, check_only: bool
) -> None:
    """Issue 25: a locked package (held) and one too young for --min-age (skipped, saying
    from when) are in the result, in check-only runs too, and never count as available."""
    young = "issued 2026-12-05, 2 day(s) ago: younger than --min-age 7; eligible from 2026-12-12"
    results = [
        {"id": "lab-base-c", "status": "held", "version": None, "message": "held back: a lock"},
        {"id": "lab-young", "status": "skipped", "version": "2.0-1", "message": young},
    ]
    rounds = {1: [record(1, "plan.selected", selected=["lab-a"], plan={"lab-a": "2.0-1"})]}
    rounds[1].append(
        final(
            2,
            results=results if check_only else [{"id": "lab-a", "status": "installed"}, *results],
            updates=[{"id": "lab-a", "candidate_version": "2.0-1"}],
        )
    )
    result, _ = await run(FakeTarget("r1", rounds), store, tmp_path, check_only=check_only)
    by_id = {u["id"]: u for u in result.updates}
    assert by_id["lab-base-c"]["status"] == "held"
    assert by_id["lab-young"]["status"] == "skipped" and by_id["lab-young"]["message"] == young
    assert by_id["lab-a"]["status"] == ("available" if check_only else "installed")
    assert result.counts["held"] == 1 and result.counts["skipped"] == 1
    assert result.counts["available"] == (1 if check_only else 0)
    assert "lab-base-c is held back on the target" in result.warnings


async def test_the_result_carries_the_rounds_change_record(store: Store, tmp_path: Path) -> None:
    """Issue 24 (5): each update's from-version, and the dependencies installed or removed."""
    changes = {
        "upgraded": [
            {"id": "lab-a", "from": "1.0", "to": "2.0"},
            {"id": "libdep", "from": "0.1", "to": "0.2"},
        ],
        "installed": [{"id": "lab-new", "version": "1.0"}],
        "removed": [{"id": "lab-old", "version": "0.9"}],
    }
    done = final(1, results=[{"id": "lab-a", "status": "installed", "version": "2.0"}])
    done["fields"]["changes"] = changes
    result, _ = await run(FakeTarget("r1", {1: [done]}), store, tmp_path)
    (update,) = result.updates
    assert (update["from_version"], update["version"]) == ("1.0", "2.0")
    document = result.to_dict()
    assert document["changes"]["installed"] == [{"id": "lab-new", "version": "1.0", "round": 1}]
    assert document["changes"]["removed"] == [{"id": "lab-old", "version": "0.9", "round": 1}]
    assert [e["id"] for e in document["changes"]["upgraded"]] == ["lab-a", "libdep"]
