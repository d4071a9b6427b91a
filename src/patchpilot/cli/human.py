"""Who reads stdout decides what `run` and `fleet` print: a scheduler, or a person.

When stdout is not a terminal (OpCon, a pipe, a file) the commands keep the job-output
contract byte for byte: every record, the summary, the result JSON as the last line. When it
is a terminal and the log format is text, a person reads it: milestones, a live table and a
recap (terminal.py); the result JSON only with `--json`, every record only with `-v`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from patchpilot.cli.terminal import RecapRow, TerminalView, recap
from patchpilot.connector import Event, FleetResult, RunResult, default_state_dir, event_line

__all__ = ["Human", "JsonFlag", "VerboseFlag"]

JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json",
        help="At a terminal, print the result JSON too (it is always the last line otherwise).",
        rich_help_panel="Job and output",
    ),
]
VerboseFlag = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="At a terminal, print every journal record, not only the milestones.",
        rich_help_panel="Job and output",
    ),
]


@dataclass(frozen=True)
class Human:
    """The output flags of `run` and `fleet`, and the terminal view they choose."""

    json_output: bool = False
    verbose: bool = False

    def is_for_person(self, log_format: str) -> bool:
        """Tell whether a person reads stdout: a terminal, and text (not JSON lines) asked."""
        return log_format == "text" and sys.stdout.isatty()

    def console(self) -> Console:
        return Console(highlight=False, soft_wrap=False)

    def view(
        self,
        hosts: Sequence[str],
        verbose_line: Callable[[Event], str] = event_line,
        console: Console | None = None,
    ) -> TerminalView:
        """Return the terminal view; with -v each event is printed as verbose_line makes it."""
        line = verbose_line if self.verbose else None
        return TerminalView(console or self.console(), hosts, verbose_line=line)

    def finish_run(self, result: RunResult, files: Mapping[str, Path | None], state: Path) -> None:
        """Print the recap, where the results are, and JSON if asked.

        files: what was written, by label (`result file`, `report`, `metrics`); state: the
        state store's folder.
        """
        document = result.to_dict()
        row = RecapRow(result.target, result.status, document)
        self._finish([row], files, [result.run_id], state)
        if self.json_output:
            sys.stdout.write(result.to_json_line() + "\n")

    def finish_fleet(
        self, result: FleetResult, document: str, files: Mapping[str, Path | None], state: Path
    ) -> None:
        """Print the fleet's recap and where its results are; the JSON only if asked."""
        rows = []
        for index, host in enumerate(result.hosts):
            outcome = result.outcomes[index]
            body = outcome.result if outcome is not None else {}
            rows.append(RecapRow(host, result.status(index).value, body))
        run_ids = [str(r.result.get("run_id")) for r in rows if r.result.get("run_id")]
        self._finish(rows, files, run_ids, state)
        if self.json_output:
            sys.stdout.write(document + "\n")

    def _finish(
        self,
        rows: list[RecapRow],
        files: Mapping[str, Path | None],
        run_ids: list[str],
        state: Path,
    ) -> None:
        where = [f"{label}: {path}" for label, path in files.items() if path is not None]
        if run_ids:
            more = f" (and {len(run_ids) - 1} more)" if len(run_ids) > 1 else ""
            store = "" if state == default_state_dir() else f" --state-dir {state}"
            where.append(f"details: patchpilot result {run_ids[0]}{store}{more}")
        where.append(f"connector log: {state / 'connector.log'}")
        console = self.console()
        console.print()
        console.print(recap(rows))
        for line in where:  # whole, never folded: a path to copy
            console.print(line, style="dim", soft_wrap=True, markup=False)
        sys.stdout.flush()
