"""The connector's events as task-log lines (the journal records the CLI prints, one a line).

Every line passes through `printable`, as the CLI's job output does: the target's text
(records, warnings, phase details) must not forge a task-log line after a newline (`Marking
task as SUCCESS`) nor reach a log viewer's terminal as an escape sequence.
"""

from __future__ import annotations

import json

from patchpilot.cli.printable import printable
from patchpilot.connector import (
    Event,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
)

__all__ = ["event_line"]


def event_line(event: Event) -> str | None:
    """Return the log line for an event (None for none), every control character escaped."""
    line = _line(event)
    return None if line is None else printable(line)


def _line(event: Event) -> str | None:
    if isinstance(event, JournalRecord):
        record = event.record
        fields = json.dumps(record.get("fields") or {}, separators=(",", ":"), sort_keys=True)
        return (
            f"{record.get('ts', event.ts)} {record.get('level', 'info')} {event.target} "
            f"r{event.round} #{record.get('seq')} {record.get('event', '?')} {fields}"
        )
    if isinstance(event, PhaseStarted):
        return f"{event.ts} phase {event.target} r{event.round} {event.phase} {event.detail}"
    if isinstance(event, WarningRaised):
        return f"{event.ts} warning {event.target} r{event.round} {event.message}"
    if isinstance(event, RunStarted):
        verb = "resumed" if event.is_resumed else "started"
        return f"{event.ts} run {verb} {event.target} {event.run_id} mode={event.mode}"
    if isinstance(event, RunFinished):
        r = event.result
        return f"{event.ts} run ended {event.target} {r.outcome.value} exit={r.exit_code}"
    return None
