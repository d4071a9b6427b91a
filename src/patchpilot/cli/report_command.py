"""CLI: `patchpilot report RUN_ID`: a run's or fleet run's report, read from the state store.

The same renderers write `--report`/`--metrics-file` at the end of `run` and `fleet`
(connector/job.py); this command makes them any time later, in any format.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from patchpilot.cli.outputs import MetricsFile
from patchpilot.cli.run import StateDir
from patchpilot.cli.state import StateUrl, open_cli_store
from patchpilot.connector import METRICS_MODE, gather, render, render_metrics, write_report_file

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `report` to app."""

    @app.command(help="Render a run's or fleet run's report from the state store.")
    def report(
        run_id: Annotated[str, typer.Argument(help="A run id or a fleet run id.")],
        fmt: Annotated[
            Literal["html", "junit", "csv", "json"], typer.Option("--format", help="Format.")
        ] = "html",
        out: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
        state_dir: StateDir = None,
        metrics_file: MetricsFile = None,
        state_url: StateUrl = None,
    ) -> None:
        store = open_cli_store(state_dir, state_url)
        try:
            gathered = gather(store, run_id)
        finally:
            store.close()
        text = render(gathered, fmt)
        if metrics_file is not None:
            write_report_file(render_metrics(gathered), metrics_file, mode=METRICS_MODE)
        if out is None:
            sys.stdout.write(text)
        else:
            write_report_file(text, out)
