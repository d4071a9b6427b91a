"""The job output of `patchpilot fleet`: lines prefixed by their server, then a summary table.

The fleet engine and the connector emit typed events; this module turns them into text for
a scheduler, a pipe or a file (a person at a terminal gets terminal.py's view instead). With
`--log-format json` every event is one JSON line instead (a server's as `patchpilot run`
prints it, the rollout's with kind `fleet.<step>`), and there is no summary table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from patchpilot.cli.progress import ProgressThrottle
from patchpilot.connector import (
    Event,
    FleetEvent,
    FleetResult,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
    event_json,
    format_fields,
    printable,
    utc_now,
)

__all__ = ["PAUSE_LINES", "FleetView", "describe"]

# What the rollout's pause events say (the job output and the terminal view alike).
PAUSE_LINES = {
    "pause": "paused ({detail}): servers in flight finish, no other starts until resumed",
    "resume": "resumed: servers start again",
    "pause-timeout": "{detail}: no new servers",
}


class FleetView:
    """Render the fleet's events; use as a context manager around the rollout."""

    def __init__(self, console: Console, hosts: Sequence[str], *, log_format: str = "text") -> None:
        self.console = console
        self.width = max([len("fleet"), *(len(h) for h in hosts)])
        self.is_json = log_format == "json"
        self.throttle = ProgressThrottle()

    def on_fleet(self, event: FleetEvent) -> None:
        """Show a step of the rollout."""
        if self.is_json:
            body = {
                "ts": utc_now(),
                "kind": f"fleet.{event.kind}",
                "target": event.host,
                "batch": event.batch,
                "detail": event.detail,
            }
            self._print(json.dumps(body, separators=(",", ":")))
        if event.kind == "batch":
            self._line("fleet", f"batch {event.batch}: {event.detail}")
        elif event.kind == "stop":
            self._line("fleet", f"failure threshold exceeded ({event.detail}): no new servers")
        elif event.kind == "window":
            self._line("fleet", f"{event.detail} (--deadline minus --cutoff): no new servers")
        elif event.kind in PAUSE_LINES:
            self._line("fleet", PAUSE_LINES[event.kind].format(detail=event.detail))
        elif event.kind == "group":
            self._line("fleet", f"group {event.detail}")

    def on_server(self, event: Event) -> None:
        """Show one server's event as a line prefixed by the server."""
        if not self.throttle.allows(event):
            return
        if self.is_json:
            self._print(event_json(event))
            return
        text = describe(event)
        if text:
            self._line(event.target, text)

    def summary(self, result: FleetResult) -> Group:
        """Return the end-of-run table (one row per server) and the totals line."""
        table = Table(title="fleet summary")
        for column in ("server", "status", "exit", "rounds", "reboots", "outcome"):
            table.add_column(column)
        for index, host in enumerate(result.hosts):
            outcome = result.outcomes[index]
            body = outcome.result if outcome is not None else {}
            rounds = body.get("rounds")
            reboots = body.get("reboots")
            cells = (
                host,
                result.status(index).value,
                "" if outcome is None else str(outcome.exit_code),
                str(len(rounds)) if isinstance(rounds, (list, tuple)) else "",
                str(reboots.get("count", "")) if isinstance(reboots, dict) else "",
                str(body.get("outcome") or body.get("error") or ""),
            )
            table.add_row(*(printable(cell) for cell in cells))
        totals = ", ".join(f"{k} {v}" for k, v in result.totals.items())
        return Group(table, Text(f"{totals}; exit code {result.exit_code}"))

    def _line(self, who: str, text: str) -> None:
        if not self.is_json:
            self._print(f"{who:<{self.width}} | {text}")

    def _print(self, line: str) -> None:
        if self.is_json:  # verbatim: no emoji codes or wrapping from rich
            self.console.file.write(line + "\n")
            self.console.file.flush()
        else:
            self.console.print(printable(line), markup=False, highlight=False, emoji=False)


def describe(event: Event) -> str:
    """Return the line for a server's event (without the server), '' for none."""
    if isinstance(event, RunStarted):
        resumed = ", resumed" if event.is_resumed else ""
        return f"run.start {event.run_id} ({event.mode}{resumed})"
    if isinstance(event, PhaseStarted):
        return f"r{event.round} phase.{event.phase} {event.detail}".rstrip()
    if isinstance(event, JournalRecord):
        record = event.record
        fields = format_fields(record.get("fields") or {})
        return f"r{event.round} {record.get('event', '?')} {fields}".rstrip()
    if isinstance(event, WarningRaised):
        return f"r{event.round} warning {event.message}"
    if isinstance(event, RunFinished):
        result = event.result
        errors = f" error={'; '.join(result.errors)}" if result.errors else ""
        return (
            f"run.end status={result.status} exit_code={result.exit_code} "
            f"rounds={len(result.rounds)} reboots={len(result.reboots)}{errors}"
        )
    return ""
