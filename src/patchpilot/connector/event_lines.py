"""The connector's events as text: one line an event, or one JSON line, for every sink.

The job output (`cli/render.py`), the terminal's `-v` lines (`cli/human.py`) and the Airflow
task log (`airflow/trigger.py`) print the same line for the same event: timestamp, level,
target, round, event, `key=value` fields. Every line is `printable`: a target's text never
forges a second line (`Marking task as SUCCESS` after a newline) nor reaches a terminal or a
log viewer as an escape sequence. JSON lines need no escaping: they are ASCII-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from patchpilot.connector.events import (
    Event,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
)
from patchpilot.connector.printable import printable
from patchpilot.connector.run_result import RunResult

__all__ = ["event_json", "event_line", "format_fields", "format_line", "level_and_line"]

_LINE_MAX = 400
_VALUE_MAX = 160


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
    """Return one event line: timestamp, level, target, round, event, fields."""
    where = f"r{round_no}" if round_no else "-"
    line = printable(f"{ts} {level:<7} {target} {where} {event} {format_fields(fields)}".rstrip())
    return line if len(line) <= _LINE_MAX else line[: _LINE_MAX - 1] + "…"


def _record_fields(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return a journal record's fields; a target sending another shape gets them as one."""
    fields = record.get("fields") or {}
    return fields if isinstance(fields, Mapping) else {"fields": fields}


def level_and_line(event: Event) -> tuple[str, str]:
    """Return an event's level and its text line."""
    if isinstance(event, JournalRecord):
        r = event.record
        level = str(r.get("level", "info"))
        return level, format_line(
            str(r.get("ts", event.ts)),
            level,
            event.target,
            event.round,
            str(r.get("event", "?")),
            _record_fields(r),
        )
    if isinstance(event, PhaseStarted):
        return _at_round(event, "info", f"phase.{event.phase}", detail=event.detail)
    if isinstance(event, WarningRaised):
        return _at_round(event, "warning", "connector.warning", message=event.message)
    if isinstance(event, RunStarted):
        fields = {"run": event.run_id, "resumed": event.is_resumed, **event.summary}
        return "info", format_line(event.ts, "info", event.target, None, "run.start", fields)
    assert isinstance(event, RunFinished)
    return "info", format_line(
        event.ts, "info", event.target, None, "run.end", _end_fields(event.result)
    )


def _at_round(
    event: PhaseStarted | WarningRaised, level: str, name: str, **fields: str
) -> tuple[str, str]:
    return level, format_line(event.ts, level, event.target, event.round, name, fields)


def event_line(event: Event) -> str:
    """Return an event's text line (job output, `-v` at a terminal, the Airflow task log)."""
    return level_and_line(event)[1]


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
