"""Print the connector's events as the job output: one text line per event, or JSON lines
(the lines themselves are the connector's, connector/event_lines.py, shared with the terminal
and the Airflow task log).

Job output must stay useful inside OpCon's 64 KB job-output limit, which keeps the start and
the end: the run's summary is printed first and last, and once the streamed lines pass
`budget` bytes (32 KiB, leaving room for the end summary and the result JSON) only warnings,
errors and phase changes are printed, with a count of what was left out. The last stdout line
is always the result JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from patchpilot.cli.progress import ProgressThrottle
from patchpilot.connector import (
    Event,
    PhaseStarted,
    RunFinished,
    RunResult,
    RunStarted,
    event_json,
    level_and_line,
    printable,
)

__all__ = ["EventRenderer"]

_QUIET_LEVELS = ("warning", "error")


class EventRenderer:
    """Print events to out as text or JSON lines (the job output; terminal.py is for people)."""

    def __init__(self, out: TextIO, *, log_format: str = "text", budget: int = 32 * 1024) -> None:
        self.out = out
        self.log_format = log_format
        self.budget = budget
        self.written = 0
        self.omitted = 0
        self.throttle = ProgressThrottle()

    def __call__(self, event: Event) -> None:
        if not self.throttle.allows(event):
            return
        if self.log_format == "json":
            self._emit(event_json(event), force=isinstance(event, (RunStarted, RunFinished)))
            return
        level, line = level_and_line(event)
        is_key = isinstance(event, (RunStarted, RunFinished, PhaseStarted))
        if isinstance(event, RunFinished) and self.omitted:
            self._emit(
                f"… {self.omitted} line(s) left out to keep the job output short; "
                "`patchpilot status RUN_ID` shows the whole journal",
                force=True,
            )
        self._emit(line, force=is_key or level in _QUIET_LEVELS)

    def _emit(self, line: str, *, force: bool) -> None:
        if self.written > self.budget and not force:
            self.omitted += 1
            return
        line = printable(line)
        self.written += len(line) + 1
        self.out.write(line + "\n")
        self.out.flush()

    def summary(self, result: RunResult) -> list[str]:
        """Return the end-of-run summary lines (one per update, capped)."""
        lines = [printable(_update_line(u)) for u in result.updates[:200]]
        lines += [printable(line) for line in _change_lines(result.changes, result.updates)]
        lines += [printable(line) for line in service_lines(result.services)]
        if len(result.updates) > 200:
            lines.append(f"… and {len(result.updates) - 200} more in the result file")
        return lines


def _update_line(update: Mapping[str, Any]) -> str:
    """Return one update's summary line; a held or skipped one says why (lock, --min-age)."""
    version = str(update.get("version") or "")
    if update.get("from_version"):
        version = f"{update['from_version']} -> {version}"
    line = f"{update['id']}: {update['status']} {version}".rstrip()
    if update["status"] in ("held", "skipped") and update.get("message"):
        line += f" ({update['message']})"
    return line


def service_lines(services: Mapping[str, Any]) -> list[str]:
    """Return --reboot services' lines: each service restarted (old -> new pid), each that
    failed to come back, each left alone, and each round's word on its reboot."""
    lines = [
        f"{e['unit']}: restarted (pid {e.get('old_pid') or '-'} -> {e.get('new_pid') or '-'})"
        for e in services.get("restarted", ())
    ]
    lines += [f"{e['unit']}: restart FAILED: {e['message']}" for e in services.get("failed", ())]
    lines += [f"{e['unit']}: not restarted ({e['why']})" for e in services.get("kept", ())]
    lines += [f"round {e['round']}: {e['why']}" for e in services.get("reboot", ())]
    return lines


def _change_lines(changes: Mapping[str, Any], updates: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the change record's lines beside the updates: dependencies, removals."""
    planned = {u["id"] for u in updates}
    lines = [
        f"{e['id']}: upgraded as a dependency {e['from']} -> {e['to']}"
        for e in changes.get("upgraded", ())
        if e["id"] not in planned
    ]
    lines += [
        f"{e['id']}: installed as a dependency {e['version']}" for e in changes.get("installed", ())
    ]
    lines += [f"{e['id']}: removed (was {e['version']})" for e in changes.get("removed", ())]
    return lines
