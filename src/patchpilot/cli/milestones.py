"""Milestones: the few lines a person at a terminal wants from a run's stream of events.

The job output prints every journal record (the scheduler's contract); at a terminal that is
noise. This module picks the milestones out of the same events, per server: a round started
with K updates, how many installed and failed, a reboot requested, back after X s with a new
boot id, ready, done with the outcome, plus warnings and errors in full. Pure: no printing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from patchpilot.cli.progress import PROGRESS_EVENT, seconds_between
from patchpilot.connector import (
    Event,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
    format_fields,
)

__all__ = ["Milestones"]

_DONE = ("installed", "downloaded")


def _count(results: object, statuses: tuple[str, ...]) -> int:
    if not isinstance(results, list):
        return 0
    return sum(1 for r in results if isinstance(r, Mapping) and r.get("status") in statuses)


@dataclass
class _ServerState:
    reboot_at: str | None = None
    is_rebooting: bool = False
    started_at: str | None = None
    is_check: bool = False
    results: list[Mapping[str, Any]] = field(default_factory=list)  # this round's so far


@dataclass
class Milestones:
    """Turn events into (level, text) milestone lines; keeps what it needs per server.

    A server may have two runs at once: a fleet's plan scan (check-only) runs on its plan
    host while that host's own run waits for the plan. Events other than a run's start and
    end name only the server, so they belong to its newest unfinished run.
    """

    runs: dict[str, list[tuple[str, _ServerState]]] = field(default_factory=dict)

    def _state(self, event: Event) -> _ServerState:
        runs = self.runs.setdefault(event.target, [])
        if isinstance(event, RunStarted):
            runs.append((event.run_id, _ServerState()))
        if isinstance(event, RunFinished):
            found = [i for i, (run_id, _) in enumerate(runs) if run_id == event.result.run_id]
            return runs.pop(found[-1])[1] if found else _ServerState()
        return runs[-1][1] if runs else _ServerState()

    def lines(self, event: Event) -> list[tuple[str, str]]:
        """Return the milestone lines for event (often none)."""
        state = self._state(event)
        if isinstance(event, RunStarted):
            state.started_at, state.is_check = event.ts, event.mode == "check-only"
            how = "resumed" if event.is_resumed else "started"
            return [("info", f"{how}: {event.mode}, run id {event.run_id}")]
        if isinstance(event, WarningRaised):
            return [("warning", f"warning: {event.message}")]
        if isinstance(event, PhaseStarted):
            return self._phase(state, event)
        if isinstance(event, JournalRecord):
            return self._record(state, event)
        if isinstance(event, RunFinished):
            level = "error" if event.result.errors else "info"
            return [(level, _done(event, state.started_at))]
        return []

    def _phase(self, state: _ServerState, event: PhaseStarted) -> list[tuple[str, str]]:
        if event.phase == "reboot.readiness":
            after = seconds_between(state.reboot_at or "", event.ts)
            took = f" after {after:.0f} s" if after is not None else ""
            boot = event.detail.removeprefix("new boot id ").strip()
            return [("info", f"back{took}, new boot id {boot}")]
        if state.is_rebooting and event.phase in ("verify", "launch"):
            state.is_rebooting = False
            return [("info", "ready")]
        return []

    def _record(self, state: _ServerState, event: JournalRecord) -> list[tuple[str, str]]:
        record = event.record
        name = str(record.get("event", "?"))
        level = str(record.get("level", "info"))
        fields: Mapping[str, Any] = record.get("fields") or {}
        if name == "update.result":
            state.results.append(fields)
        if name == "plan.selected":
            state.results = []
            count = len(fields.get("selected") or ())
            if state.is_check:
                return [("info", f"round {event.round}: {count} update(s) available")]
            return [("info", f"round {event.round} started: {count} update(s) to apply")]
        if name == "round.result" and not (state.is_check and level != "error"):
            results = fields.get("results") or state.results
            state.results = []
            installed, failed = _count(results, _DONE), _count(results, ("failed",))
            line = f"round {event.round} {fields.get('status', '?')}: {installed} installed"
            return [("error" if level == "error" else "info", f"{line}, {failed} failed")]
        if name == "reboot.requested":
            state.reboot_at, state.is_rebooting = str(record.get("ts", event.ts)), True
            reasons = ", ".join(str(r) for r in fields.get("reasons") or ()) or "policy"
            return [("info", f"reboot requested ({reasons})")]
        if level in ("warning", "error") and name != PROGRESS_EVENT:
            detail = " ".join(f"{k}={v}" for k, v in fields.items() if k != "output")
            return [(level, f"{level}: {name} {detail or format_fields(fields)}".rstrip())]
        return []


def _done(event: RunFinished, started_at: str | None) -> str:
    result = event.result
    took = seconds_between(started_at or result.started, event.ts)
    duration = f" in {took:.0f} s" if took is not None else ""
    errors = f": {'; '.join(result.errors)}" if result.errors else ""
    return f"done{duration}: {result.outcome.value} (exit {result.exit_code}){errors}"
