"""The stability window overlaps the next round's preparation, and still catches a target
that reboots again inside it (before the next launch, and at the run's end)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget
from test_reboot import POLICY, FakeTime, ScriptedProbe
from test_runner import two_rounds

from patchpilot.connector.events import Event, PhaseStarted
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.run.stability import PendingStability, confirm_stable
from patchpilot.connector.store import Store, open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.transports.fake import FakeTransport

BOOT_ID = ("cat", "/proc/sys/kernel/random/boot_id")
T = FakeTransport(lambda argv, stdin: (0, ""))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "state")


def scan_twice() -> list[dict[str, Any]]:
    return [{"id": "lab-stage2-x", "candidate_version": "1"}]


async def run(target: FakeTarget, store: Store, tmp_path: Path, **extra: Any) -> Any:
    events: list[Event] = []
    result = await run_target(
        TargetSpec("web1", "web1"),
        RunOptions(run_id="r1", **{"stability_window": 0.0, **extra}),
        store=store,
        on_event=events.append,
        transport=target.transport,
        client=FakeClient.make(tmp_path),
    )
    return result, events


def log_commands(target: FakeTarget, log: list[tuple[float, str, str]]) -> None:
    """Record (time, what, boot id answered) of each boot id read, scan and launch."""

    def handle(argv: tuple[str, ...], stdin: bytes | None) -> Any:
        got = target.handle(argv, stdin)
        if argv == BOOT_ID:
            log.append((time.monotonic(), "boot_id", target.boot_id))
        elif "scan" in argv:
            log.append((time.monotonic(), "scan", target.boot_id))
        elif argv[0] == "systemd-run" and argv[1] != "--version":
            log.append((time.monotonic(), "launch", target.boot_id))
        return got

    target.transport.handler = handle


async def test_rebooting_again_while_the_next_round_is_prepared_is_caught(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds(), scan=scan_twice())
    log: list[tuple[float, str, str]] = []
    log_commands(target, log)
    first_scan = target.transport.handler

    def reboot_at_the_scan(argv: tuple[str, ...], stdin: bytes | None) -> Any:
        got = first_scan(argv, stdin)
        if "scan" in argv and target.boot_id == "boot-2":
            target.boot_id = "boot-3"  # a first-boot job reboots it again, inside the window
        return got

    target.transport.handler = reboot_at_the_scan
    result, events = await run(target, store, tmp_path)
    assert result.outcome is Outcome.SUCCESS and target.launched == [1, 2]
    assert result.reboots[0].boot_id_after == "boot-3"
    assert [what for _, what, _ in log if what == "scan"] == ["scan", "scan"]  # boot-3 rescanned
    rounds = {r.round: r for r in store.rounds("r1")}
    assert rounds[2].boot_id_before == "boot-3"
    details = [e.detail for e in events if isinstance(e, PhaseStarted)]
    assert any("rebooted again inside the stability window" in d for d in details)


async def test_the_window_runs_while_the_next_round_is_prepared(
    store: Store, tmp_path: Path
) -> None:
    window = 0.4
    target = FakeTarget("r1", two_rounds(), scan=scan_twice())
    log: list[tuple[float, str, str]] = []
    log_commands(target, log)
    result, _ = await run(target, store, tmp_path, stability_window=window)
    assert result.outcome is Outcome.SUCCESS
    back = next(t for t, what, boot in log if what == "boot_id" and boot == "boot-2")
    scan = next(t for t, what, _ in log if what == "scan")
    launch2 = [t for t, what, _ in log if what == "launch"][1]
    checks = [t for t, what, boot in log if what == "boot_id" and boot == "boot-2" and t > scan]
    assert scan < back + window  # prepared inside the window, not after it
    assert checks and checks[0] >= back + window and checks[0] <= launch2  # then re-checked


async def test_a_reboot_in_the_window_of_the_last_round_is_caught_before_the_end(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds(), scan=scan_twice())
    reads = 0

    def second_read_finds_another_boot(argv: tuple[str, ...], stdin: bytes | None) -> Any:
        nonlocal reads
        if argv == BOOT_ID and target.boot_id == "boot-2":
            reads += 1
            if reads == 2:  # read 1: back; read 2: the window's check
                target.boot_id = "boot-3"
        return target.handle(argv, stdin)

    target.transport.handler = second_read_finds_another_boot
    result, _ = await run(target, store, tmp_path, max_rounds=1)
    assert target.launched == [1]
    assert result.reboots[0].boot_id_after == "boot-3"


async def test_confirm_after_a_dropped_link_on_the_same_boot_is_stable() -> None:
    time_ = FakeTime()
    probe = ScriptedProbe([None, None, "new"])
    pending = PendingStability(1, "new", since=0.0)
    settled = await confirm_stable(T, probe, pending, POLICY, time_.clock())
    assert settled.boot_id == "new" and not settled.rebooted_again
    assert time_.t >= POLICY.stability_window


async def test_confirm_down_then_another_boot_waits_for_its_stability() -> None:
    time_ = FakeTime()
    probe = ScriptedProbe([None, "third", "third"])
    pending = PendingStability(1, "new", since=0.0)
    settled = await confirm_stable(T, probe, pending, POLICY, time_.clock())
    assert settled.boot_id == "third" and settled.rebooted_again
    assert time_.t >= 2 * POLICY.stability_window  # a full window on the third boot


async def test_confirm_waits_only_what_is_left_of_the_window() -> None:
    time_ = FakeTime()
    time_.t = 3.0  # the preparation took 3 s of the 5 s window
    settled = await confirm_stable(
        T, ScriptedProbe(["new"]), PendingStability(1, "new", 0.0), POLICY, time_.clock()
    )
    assert not settled.rebooted_again and time_.t == POLICY.stability_window
