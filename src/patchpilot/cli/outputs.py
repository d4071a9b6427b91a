"""CLI: the `--report` and `--metrics-file` outputs that `run` and `fleet` write at the end.

A report is read back from the state store, so the same files can be made any time later
with `patchpilot report` (cli/report_command.py).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from patchpilot.connector.events import utc_now
from patchpilot.connector.reports import (
    format_of,
    gather,
    render,
    render_metrics,
    write_text_atomic,
)
from patchpilot.connector.store import open_store
from patchpilot.errors import ConfigurationError

__all__ = ["MetricsFile", "ReportFile", "check_outputs", "write_file", "write_outputs"]

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
    state_url: str | None = None,
) -> None:
    """Store a fleet's document (so `report` finds it later) and write the asked-for files.

    A file that cannot be written is a warning on stderr: the servers are patched either way,
    so the run keeps its exit code and its result line.
    """
    if fleet_document is None and report is None and metrics_file is None:
        return
    store = open_store(state_dir, url=state_url)
    try:
        if fleet_document is not None:
            store.save_fleet(run_id, utc_now(), fleet_document)
        if report is None and metrics_file is None:
            return
        gathered = gather(store, run_id)
    finally:
        store.close()
    if report is not None:
        _write_or_warn(render(gathered, format_of(report)), report)
    if metrics_file is not None:
        _write_or_warn(render_metrics(gathered), metrics_file)


def _write_or_warn(text: str, path: Path) -> None:
    try:
        write_file(text, path)
    except ConfigurationError as exc:
        print(f"patchpilot: warning: {exc}", file=sys.stderr)


def check_outputs(report: Path | None) -> None:
    """Refuse a --report file whose extension names no format, before any server is touched."""
    if report is not None:
        format_of(report)


def write_file(text: str, path: Path) -> None:
    """Write a report or metrics file atomically; ConfigurationError names it if that fails."""
    try:
        write_text_atomic(text, path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from exc
