"""The stability window is read alongside the next round (Linux), and still catches a target
that reboots again inside it: a round it cuts is recovered as an interrupted round, and the
run does not end (nor release its lock) before the window has passed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget
from test_interruption import CutTarget, rounds
from test_reboot import POLICY, FakeTime, ScriptedProbe
from test_runner import two_rounds

from patchpilot.connector.events import Event, PhaseStarted
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.run.stability import PendingStability, confirm_stable
from patchpilot.connector.store import Store, open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets import TARGETS
from patchpilot.errors import ConnectError
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
        elif "unlock" in argv:
            log.append((time.monotonic(), "unlock", target.boot_id))
        return got

    target.transport.handler = handle


WINDOW = 0.5


async def run_logged(target: FakeTarget, store: Store, tmp_path: Path) -> Any:
    """Run with a WINDOW-long window; return the result, events, the command log and the
    times round 1's reboot was found back (boot-2 read) and round 2 was launched."""
    log: list[tuple[float, str, str]] = []
    log_commands(target, log)
    result, events = await run(target, store, tmp_path, stability_window=WINDOW)
    back = next(t for t, what, boot in log if what == "boot_id" and boot == "boot-2")
    launch2 = [t for t, what, _ in log if what == "launch"][1]
    return result, events, log, (back, launch2)


async def test_a_boot_that_changed_before_the_launch_is_caught_after_the_round(
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
    result, events = await run(target, store, tmp_path, stability_window=0.2)
    assert result.outcome is Outcome.SUCCESS and target.launched == [1, 2]
    assert result.reboots[0].boot_id_after == "boot-3"
    rows = {r.round: r for r in store.rounds("r1")}
    assert rows[2].boot_id_before == "boot-3"  # it ran whole on the new boot: not cut
    details = [e.detail for e in events if isinstance(e, PhaseStarted)]
    assert any("rebooted again inside the stability window" in d for d in details)


async def test_the_next_round_launches_inside_the_window_and_the_run_ends_after_it(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", two_rounds(), scan=scan_twice())
    result, events, log, (back, launch2) = await run_logged(target, store, tmp_path)
    ended = time.monotonic()
    assert result.outcome is Outcome.SUCCESS and target.launched == [1, 2]
    (unlock,) = [t for t, what, _ in log if what == "unlock"]
    checks = [t for t, what, boot in log if what == "boot_id" and t >= back + WINDOW]
    assert launch2 < back + WINDOW  # launched while the window is read alongside
    assert checks and checks[0] >= back + WINDOW  # then the boot id is read again
    assert unlock >= back + WINDOW and ended >= back + WINDOW  # nothing ends before it
    details = [e.detail for e in events if isinstance(e, PhaseStarted)]
    assert any("the next round launches now" in d for d in details)


async def test_a_reboot_in_the_window_cuts_the_next_round_which_is_recovered(
    store: Store, tmp_path: Path
) -> None:
    # round 3 runs round 2's plan again; after that reboot, round 4 finds nothing more
    script = {1: two_rounds()[1], 2: rounds(3)[1], 3: rounds(3)[3], 4: two_rounds()[3]}
    target = CutTarget("r1", script, cut={2: "reset"})  # it reboots as round 2 launches
    result, events, _, (back, launch2) = await run_logged(target, store, tmp_path)
    assert result.outcome is Outcome.SUCCESS and target.launched == [1, 2, 3, 4]
    assert launch2 < back + WINDOW  # the reboot came inside round 1's window
    (cut,) = result.interruptions
    assert cut["round"] == 2 and cut["rebooted"] is True
    assert "boot-2 -> boot-reset-1" in cut["cause"]
    assert [r.status for r in result.rounds] == ["success", "interrupted", "success", "nothing"]
    phases = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert "interrupted.back" in phases
    rows = {r.round: r for r in store.rounds("r1")}
    assert rows[3].boot_id_before == "boot-reset-1"  # round 2's plan ran again on the new boot


def test_windows_keeps_the_serial_window() -> None:
    assert TARGETS["linux"].watches_window and not TARGETS["windows"].watches_window


def reboot_on_first(target: FakeTarget, what: str) -> None:
    """The first `what` command ("scan", "launch") on boot-2 finds the link cut: the target
    rebooted again inside the window, and answers from boot-3 from then on."""
    handler = target.transport.handler

    def cut(argv: tuple[str, ...], stdin: bytes | None) -> Any:
        is_launch = argv[0] == "systemd-run" and argv[1] != "--version"
        if target.boot_id == "boot-2" and (what in argv or (what == "launch" and is_launch)):
            target.boot_id = "boot-3"
            raise ConnectError("connection reset by peer")
        return handler(argv, stdin)

    target.transport.handler = cut


@pytest.mark.parametrize("what", ["scan", "launch"])
async def test_a_link_cut_by_a_reboot_in_the_window_before_the_round_is_under_way(
    store: Store, tmp_path: Path, what: str
) -> None:
    target = FakeTarget("r1", two_rounds(), scan=scan_twice())
    log: list[tuple[float, str, str]] = []
    log_commands(target, log)
    reboot_on_first(target, what)
    result, events = await run(target, store, tmp_path, stability_window=0.2)
    assert result.outcome is Outcome.SUCCESS and target.launched == [1, 2]
    assert [boot for _, w, boot in log if w == "scan"][-1] == "boot-3"  # planned on the new boot
    assert result.reboots[0].boot_id_after == "boot-3"
    rows = {r.round: r for r in store.rounds("r1")}
    assert rows[2].boot_id_before == "boot-3"
    assert not result.warnings  # the scan was not given up on
    details = [e.detail for e in events if isinstance(e, PhaseStarted)]
    assert any("rebooted again inside the stability window" in d for d in details)


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
