"""What `run` and `fleet` show a person at a terminal: milestones, a live table, a recap.

Used only when stdout is a terminal (the job output for schedulers and pipes is render.py's
and fleet_view.py's, unchanged). One short line per server milestone (milestones.py),
warnings and errors in full, a live table at the bottom (state, round, phase, progress,
reboots) and, at the end, a recap in the spirit of Ansible's PLAY RECAP with where the
results are. `-v` prints every event as the job output does instead of the milestones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from patchpilot.cli.fleet_view import PAUSE_LINES
from patchpilot.cli.milestones import Milestones
from patchpilot.cli.progress import progress_of, seconds_between
from patchpilot.connector import Event, FleetEvent, PhaseStarted, RunFinished, printable

__all__ = ["RecapRow", "TerminalView", "recap"]

_STYLES = {"warning": "yellow", "error": "bold red"}
_OUTCOME_STYLES = {
    "success": "green",
    "success-reboot-pending": "yellow",
    "updates-available": "cyan",
    "not-started": "dim",
}


@dataclass
class _Row:
    state: str = "waiting"
    round: int = 0
    phase: str = ""
    progress: str = ""
    reboots: int = 0


class TerminalView:
    """Render events for a person; use as a context manager around the work."""

    def __init__(
        self,
        console: Console,
        hosts: Sequence[str],
        *,
        verbose_line: Callable[[Event], str] | None = None,
    ) -> None:
        self.console = console
        self.rows = {host: _Row() for host in hosts}
        self.width = max([5, *(len(h) for h in hosts)])
        self.verbose_line = verbose_line
        self.milestones = Milestones()
        self.live = Live(self._table(), console=console, auto_refresh=False, transient=True)

    def __enter__(self) -> TerminalView:
        self.live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.stop()

    def on_fleet(self, event: FleetEvent) -> None:
        """Show a step of the rollout."""
        if event.kind == "batch":
            self._line("fleet", "info", f"batch {event.batch}: {event.detail}")
        elif event.kind == "stop":
            self._line("fleet", "error", f"failure threshold exceeded ({event.detail})")
        elif event.kind == "window":
            self._line("fleet", "warning", f"{event.detail}: no new servers")
        elif event.kind in PAUSE_LINES:
            self._line("fleet", "warning", PAUSE_LINES[event.kind].format(detail=event.detail))
        elif event.kind == "group":
            self._line("fleet", "info", f"group {event.detail}")
        elif event.host is not None:
            self.rows[event.host].state = "running" if event.kind == "start" else event.detail
        self._refresh()

    def on_server(self, event: Event) -> None:
        """Show one server's event: its milestone lines, or every event with -v."""
        row = self.rows.setdefault(event.target, _Row())
        self._update(row, event)
        if self.verbose_line is not None:
            line = self.verbose_line(event)
            if line:
                self.console.print(printable(line), markup=False, highlight=False, emoji=False)
        else:
            for level, text in self.milestones.lines(event):
                self._line(event.target, level, text)
        self._refresh()

    def _update(self, row: _Row, event: Event) -> None:
        progress = progress_of(event)
        if progress is not None:
            row.progress = progress.text()
        elif isinstance(event, PhaseStarted):
            row.state = "running" if row.state == "waiting" else row.state
            if event.round != row.round:
                row.progress = ""
            row.round, row.phase = event.round, event.phase
            row.reboots += event.phase == "await_reboot"
        elif isinstance(event, RunFinished):
            row.phase, row.progress = event.result.outcome.value, ""
            row.reboots = len(event.result.reboots)

    def _line(self, who: str, level: str, text: str) -> None:
        line = Text(f"{printable(who):<{self.width}} | ")
        line.append(printable(text), style=_STYLES.get(level))
        self.console.print(line, highlight=False, emoji=False)

    def _refresh(self) -> None:
        self.live.update(self._table(), refresh=True)

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, header_style="bold dim")
        for column in ("server", "state", "round", "phase", "progress", "reboots"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        for host, row in self.rows.items():
            cells = (
                host,
                row.state,
                str(row.round or ""),
                row.phase,
                row.progress,
                str(row.reboots),
            )
            table.add_row(*(printable(cell) for cell in cells))
        return table


@dataclass(frozen=True)
class RecapRow:
    """One server's line of the recap: its status and its result document (may be empty)."""

    host: str
    status: str
    result: Mapping[str, Any]


def _counts(body: Mapping[str, Any]) -> tuple[int, int, int, str]:
    counts = body.get("counts") or {}
    reboots = body.get("reboots") or {}
    took = seconds_between(str(body.get("started", "")), str(body.get("finished", "")))
    return (
        int(counts.get("installed", 0)) + int(counts.get("downloaded", 0)),
        int(counts.get("failed", 0)),
        int(reboots.get("count", 0)) if isinstance(reboots, Mapping) else 0,
        f"{took:.0f} s" if took is not None else "-",
    )


def _not_planned(body: Mapping[str, Any]) -> str:
    """Return `  held=N skipped=N` for updates left out on purpose (locks, --min-age),
    `deps=N removed=N` for packages the rounds newly installed or removed and
    `restarted=N restart-failed=N` for services (--reboot services), or ""."""
    counts = body.get("counts") or {}
    parts = [f"{k}={counts[k]}" for k in ("held", "skipped") if int(counts.get(k) or 0)]
    changes = body.get("changes") or {}
    for key, label in (("installed", "deps"), ("removed", "removed")):
        if changes.get(key):
            parts.append(f"{label}={len(changes[key])}")
    services = body.get("services") or {}
    for key, label in (("restarted", "restarted"), ("failed", "restart-failed")):
        if services.get(key):
            parts.append(f"{label}={len(services[key])}")
    return "  " + " ".join(parts) if parts else ""


def recap(rows: Sequence[RecapRow]) -> Group:
    """Return the end-of-run recap: per server outcome, installed, failed, reboots, duration."""
    width = max([6, *(len(r.host) for r in rows)])
    outcomes = [printable(str(r.result.get("outcome") or r.status)) for r in rows]
    outcome_width = max([7, *(len(o) for o in outcomes)])
    lines = [Text("RECAP " + "*" * 60, style="bold")]
    for row, outcome in zip(rows, outcomes, strict=True):
        installed, failed, reboots, took = _counts(row.result)
        line = Text(f"{printable(row.host):<{width}} : ")
        line.append(f"{outcome:<{outcome_width}}", style=_OUTCOME_STYLES.get(outcome, "bold red"))
        line.append(f"  installed={installed:<3} failed={failed:<3} reboots={reboots} {took:>5}")
        cuts = len(row.result.get("interruptions") or ())
        if cuts:  # rounds recovered after a reset or a killed client (docs/reliability.md)
            line.append(f"  interrupted={cuts}", style="yellow")
        line.append(_not_planned(row.result))
        lines.append(line)
    return Group(*lines)
