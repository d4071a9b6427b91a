"""CLI: `patchpilot report RUN_ID`, and the `--report`/`--metrics-file` outputs of run and fleet.

A report is read back from the state store, so it can be made at the end of a run (the
options below) or any time later (the command), for a single run or a fleet run.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from patchpilot.connector.events import utc_now
from patchpilot.connector.reports import (
    format_of,
    gather,
    render,
    render_metrics,
    write_text_atomic,
)
from patchpilot.connector.store import Store
from patchpilot.errors import ConfigurationError

__all__ = ["MetricsFile", "ReportFile", "check_outputs", "register", "write_outputs"]

ReportFile = Annotated[
    Path | None,
    typer.Option(help="Write a report here at the end; .html, .xml (JUnit), .csv or .json."),
]
MetricsFile = Annotated[
    Path | None,
    typer.Option(help="Write node_exporter textfile metrics here (e.g. .../patchpilot.prom)."),
]


def write_outputs(
    state_dir: Path | None,
    run_id: str,
    *,
    report: Path | None,
    metrics_file: Path | None,
    fleet_document: Mapping[str, Any] | None = None,
) -> None:
    """Store a fleet's document (so `report` finds it later) and write the asked-for files.

    Raises ConfigurationError naming the file that could not be written.
    """
    if fleet_document is None and report is None and metrics_file is None:
        return
    store = Store.open(state_dir)
    try:
        if fleet_document is not None:
            store.save_fleet(run_id, utc_now(), fleet_document)
        if report is None and metrics_file is None:
            return
        gathered = gather(store, run_id)
    finally:
        store.close()
    if report is not None:
        _write(render(gathered, format_of(report)), report)
    if metrics_file is not None:
        _write(render_metrics(gathered), metrics_file)


def check_outputs(report: Path | None) -> None:
    """Refuse a --report file whose extension names no format, before any server is touched."""
    if report is not None:
        format_of(report)


def _write(text: str, path: Path) -> None:
    try:
        write_text_atomic(text, path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from exc


def register(app: typer.Typer) -> None:
    """Add `report` to app."""
    from patchpilot.cli.run import StateDir

    @app.command(help="Render a run's or fleet run's report from the state store.")
    def report(
        run_id: Annotated[str, typer.Argument(help="A run id or a fleet run id.")],
        fmt: Annotated[
            Literal["html", "junit", "csv", "json"], typer.Option("--format", help="Format.")
        ] = "html",
        out: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
        state_dir: StateDir = None,
        metrics_file: MetricsFile = None,
    ) -> None:
        store = Store.open(state_dir)
        try:
            gathered = gather(store, run_id)
        finally:
            store.close()
        text = render(gathered, fmt)
        if metrics_file is not None:
            _write(render_metrics(gathered), metrics_file)
        if out is None:
            sys.stdout.write(text)
        else:
            _write(text, out)
