"""A scripted `run_target`: the fixed event sequence of a two-round run with a reboot.

The CLI tests put it in place of the real round loop, so the whole command (options, renderer,
summary, result line) runs on events whose every byte is known: the golden files pin what a
scheduler sees, and the terminal tests what a person sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from patchpilot.connector.events import (
    Event,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
)
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run_result import RebootRecord, RoundSummary, RunResult
from patchpilot.connector.store import Store
from patchpilot.connector.target_spec import TargetSpec

__all__ = ["events_for", "result_for", "scripted_run_target"]

_UPDATES = [
    {"id": "lab-kernel", "version": "2.0", "status": "installed", "round": 1},
    {"id": "lab-tool", "version": "1.1", "status": "failed", "round": 1},
    {"id": "lab-after", "version": "3.0", "status": "installed", "round": 2},
]


def _ts(second: int) -> str:
    return f"2026-11-25T02:00:{second:02d}.000Z"


def _record(target: str, round_no: int, second: int, event: str, level: str = "info",
            **fields: Any) -> JournalRecord:  # fmt: skip
    body = {"seq": second, "ts": _ts(second), "level": level, "event": event, "fields": fields}
    return JournalRecord(target=target, ts=_ts(second), round=round_no, record=body)


def result_for(target: str, run_id: str) -> RunResult:
    """Return the run's result: three updates over two rounds, one failed, one reboot."""
    rounds = (
        RoundSummary(1, "partial", _ts(1), _ts(9), "systemd-run", "t1", 1, 1, True),
        RoundSummary(2, "success", _ts(20), _ts(25), "systemd-run", "t2", 1, 0, False),
    )
    reboot = RebootRecord(1, "boot-a", "boot-b", _ts(9), _ts(18), 9.0)
    return RunResult(
        run_id, target, "install", "partial", Outcome.PARTIAL, 30, "native", _ts(0), _ts(26),
        rounds=rounds, reboots=(reboot,), updates=tuple(_UPDATES),
        counts={"installed": 2, "failed": 1, "rounds": 2},
        warnings=("lab-tool: dependency problem",), errors=("1 update failed",),
    )  # fmt: skip


def events_for(target: str, run_id: str) -> list[Event]:
    """Return the events a two-round run with a reboot emits, in order."""
    updates = [{"id": u["id"], "version": u["version"]} for u in _UPDATES[:2]]
    t = target
    return [
        RunStarted(
            target=t,
            ts=_ts(0),
            run_id=run_id,
            mode="install",
            is_resumed=False,
            summary={"host": t, "reboot": "if-required"},
        ),
        PhaseStarted(target=t, ts=_ts(1), round=1, phase="launch"),
        PhaseStarted(
            target=t, ts=_ts(1), round=1, phase="launch.started", detail="systemd-run task t1"
        ),
        PhaseStarted(target=t, ts=_ts(2), round=1, phase="stream"),
        _record(t, 1, 2, "run.started", run=run_id, round=1, action="install", backend="apt"),
        _record(t, 1, 3, "scan.done", updates=updates),
        _record(t, 1, 4, "plan.selected", selected=updates, excluded=[]),
        _record(t, 1, 5, "update.result", id="lab-kernel", status="installed", version="2.0"),
        _record(
            t,
            1,
            6,
            "update.result",
            "warning",
            id="lab-tool",
            status="failed",
            message="lab-tool: dependency problem\nsecond line",
        ),
        _record(
            t,
            1,
            7,
            "round.result",
            status="partial",
            will_reboot=True,
            reboot_reasons=["kernel lab-kernel 2.0"],
        ),
        _record(
            t,
            1,
            8,
            "reboot.requested",
            command="systemctl reboot",
            reasons=["kernel lab-kernel 2.0"],
        ),
        PhaseStarted(target=t, ts=_ts(9), round=1, phase="await_reboot"),
        PhaseStarted(
            target=t,
            ts=_ts(9),
            round=1,
            phase="reboot.boot_id_change",
            detail="waiting up to 600 s",
        ),
        WarningRaised(target=t, ts=_ts(12), round=1, message="ssh: connection refused, retrying"),
        PhaseStarted(
            target=t, ts=_ts(16), round=1, phase="reboot.readiness", detail="new boot id boot-b"
        ),
        PhaseStarted(target=t, ts=_ts(19), round=1, phase="verify"),
        PhaseStarted(target=t, ts=_ts(20), round=2, phase="launch"),
        PhaseStarted(target=t, ts=_ts(21), round=2, phase="stream"),
        _record(t, 2, 21, "scan.done", updates=[{"id": "lab-after", "version": "3.0"}]),
        _record(t, 2, 22, "update.result", id="lab-after", status="installed", version="3.0"),
        _record(t, 2, 23, "round.result", status="success", will_reboot=False),
        PhaseStarted(target=t, ts=_ts(24), round=2, phase="verify"),
        RunFinished(target=t, ts=_ts(26), result=result_for(t, run_id)),
    ]


RunTarget = Callable[..., Any]


def scripted_run_target(extra: Callable[[str], list[Event]] | None = None) -> RunTarget:
    """Return a run_target that emits events_for (plus `extra(target)`) and returns the result."""

    async def run_target(
        target: TargetSpec, options: RunOptions, *, store: Store, on_event: Callable[[Event], None]
    ) -> RunResult:
        name = target.name
        run_id = options.run_id or "r1"
        events = events_for(name, run_id)
        for event in [*events[:-1], *(extra(name) if extra else []), events[-1]]:
            on_event(event)
        return result_for(name, run_id)

    return run_target
