"""Render the connector's events as the job output: one text line per event, or JSON lines.

Job output must stay useful inside OpCon's 64 KB job-output limit, which keeps the start and
the end: the run's summary is printed first and last, and once the streamed lines pass
`budget` bytes (32 KiB, leaving room for the end summary and the result JSON) only warnings,
errors and phase changes are printed, with a count of what was left out. The last stdout line
is always the result JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from patchpilot.cli.printable import printable
from patchpilot.cli.progress import ProgressThrottle
from patchpilot.connector.events import (
    Event,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
)
from patchpilot.connector.run_result import RunResult

__all__ = ["EventRenderer", "event_json", "event_line", "format_fields", "format_line"]

_LINE_MAX = 400
_VALUE_MAX = 160
_QUIET_LEVELS = ("warning", "error")


def _value(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, Mapping) and "id" in v for v in value):
        text = ",".join(str(v["id"]) for v in value) or "-"
        return f"{len(value)}[{text}]"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    text = printable(text.replace("\n", " | "))
    return text if len(text) <= _VALUE_MAX else text[: _VALUE_MAX - 1] + "…"


def format_fields(fields: Mapping[str, Any]) -> str:
    """Return fields as `key=value` pairs (lists of updates as their ids), each value cut."""
    return " ".join(f"{k}={_value(v)}" for k, v in fields.items() if v not in (None, "", [], ()))


def format_line(
    ts: str, level: str, target: str, round_no: int | None, event: str, fields: Mapping[str, Any]
) -> str:
    """Return one job-output line: timestamp, level, target, round, event, fields."""
    where = f"r{round_no}" if round_no else "-"
    line = printable(f"{ts} {level:<7} {target} {where} {event} {format_fields(fields)}".rstrip())
    return line if len(line) <= _LINE_MAX else line[: _LINE_MAX - 1] + "…"


def _as_line(event: Event) -> tuple[str, str]:
    """Return (level, text line) for an event."""
    if isinstance(event, JournalRecord):
        r = event.record
        level = str(r.get("level", "info"))
        return level, format_line(
            str(r.get("ts", event.ts)),
            level,
            event.target,
            event.round,
            str(r.get("event", "?")),
            r.get("fields") or {},
        )
    if isinstance(event, PhaseStarted):
        return "info", format_line(
            event.ts,
            "info",
            event.target,
            event.round,
            f"phase.{event.phase}",
            {"detail": event.detail},
        )
    if isinstance(event, WarningRaised):
        return "warning", format_line(
            event.ts,
            "warning",
            event.target,
            event.round,
            "connector.warning",
            {"message": event.message},
        )
    if isinstance(event, RunStarted):
        fields = {"run": event.run_id, "resumed": event.is_resumed, **event.summary}
        return "info", format_line(event.ts, "info", event.target, None, "run.start", fields)
    assert isinstance(event, RunFinished)
    return "info", format_line(
        event.ts, "info", event.target, None, "run.end", _end_fields(event.result)
    )


def event_line(event: Event) -> str:
    """Return an event's job-output text line (what `-v` prints at a terminal)."""
    return _as_line(event)[1]


def _end_fields(result: RunResult) -> dict[str, Any]:
    return {
        "run": result.run_id,
        "status": result.status,
        "exit_code": result.exit_code,
        "rounds": len(result.rounds),
        "reboots": len(result.reboots),
        **result.counts,
        "phase": result.phase,
        "error": "; ".join(result.errors),
    }


def event_json(event: Event) -> str:
    """Return an event as one JSON line (the `--log-format json` output)."""
    body: dict[str, Any] = {"ts": event.ts, "kind": event.kind, "target": event.target}
    if isinstance(event, JournalRecord):
        body.update(round=event.round, record=dict(event.record))
    elif isinstance(event, PhaseStarted):
        body.update(round=event.round, phase=event.phase, detail=event.detail)
    elif isinstance(event, WarningRaised):
        body.update(round=event.round, message=event.message)
    elif isinstance(event, RunStarted):
        body.update(
            run_id=event.run_id,
            mode=event.mode,
            resumed=event.is_resumed,
            summary=dict(event.summary),
        )
    elif isinstance(event, RunFinished):
        body.update(summary=_end_fields(event.result))
    return json.dumps(body, separators=(",", ":"), default=str)


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
        level, line = _as_line(event)
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
