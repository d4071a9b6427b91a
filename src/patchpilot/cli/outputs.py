"""CLI: the `--report` and `--metrics-file` outputs that `run` and `fleet` write at the end,
and the `--notify` webhooks they post to after them.

A report is read back from the state store, so the same files can be made any time later
with `patchpilot report` (cli/report_command.py). They come after the result file and never cost
the run its result: a report that cannot be made (a target's data a renderer chokes on, a
folder that cannot be written) is a warning on stderr, its traceback in connector.log.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from patchpilot.connector import (
    Report,
    RunOptions,
    Summary,
    format_of,
    gather,
    notify,
    open_store,
    printable,
    render,
    render_metrics,
    utc_now,
    write_text_atomic,
)
from patchpilot.errors import ConfigurationError

__all__ = [
    "METRICS_MODE",
    "MetricsFile",
    "ReportFile",
    "check_outputs",
    "send_notifications",
    "write_file",
    "write_outputs",
]

METRICS_MODE = 0o644  # node_exporter's textfile collector, another user, reads it

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

    Call it after the result file is written. A file that cannot be made or written is a
    warning on stderr: the servers are patched either way, so the run keeps its exit code
    and its result line.
    """
    makers: dict[Path, Callable[[Report], str]] = {}
    if report is not None:
        fmt = format_of(report)
        makers[report] = lambda gathered: render(gathered, fmt)
    if metrics_file is not None:
        makers[metrics_file] = render_metrics
    if fleet_document is None and not makers:
        return
    try:
        gathered = _gather(state_dir, state_url, run_id, fleet_document, is_wanted=bool(makers))
    except Exception as exc:  # the run's result is out already: warn only
        for label in [f"the report {p.name}" for p in makers] or ["the fleet's document"]:
            _warn(label, exc)
        return
    for path, make in makers.items():
        try:
            text = make(gathered) if gathered is not None else ""
        except Exception as exc:  # as above
            _warn(f"the report {path.name}", exc)
            continue
        try:
            write_file(text, path, mode=METRICS_MODE if path == metrics_file else 0o600)
        except ConfigurationError as exc:
            print(f"patchpilot: warning: {exc}", file=sys.stderr)


def _gather(
    state_dir: Path | None,
    state_url: str | None,
    run_id: str,
    fleet_document: Mapping[str, Any] | None,
    *,
    is_wanted: bool,
) -> Report | None:
    """Store the fleet's document; return the run's report if one is wanted."""
    store = open_store(state_dir, url=state_url)
    try:
        if fleet_document is not None:
            store.save_fleet(run_id, utc_now(), fleet_document)
        return gather(store, run_id) if is_wanted else None
    finally:
        store.close()


def _warn(label: str, exc: Exception) -> None:
    """Say what could not be made or stored; keep the traceback in connector.log."""
    logging.getLogger("patchpilot").error("%s could not be made", label, exc_info=exc)
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    print(f"patchpilot: warning: {label} could not be made: {printable(reason)}", file=sys.stderr)


def check_outputs(report: Path | None) -> None:
    """Refuse a --report file whose extension names no format, before any server is touched."""
    if report is not None:
        format_of(report)


def write_file(text: str, path: Path, *, mode: int = 0o600) -> None:
    """Write a report or metrics file atomically; ConfigurationError names it if that fails."""
    try:
        write_text_atomic(text, path, mode=mode)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from exc


def send_notifications(
    options: RunOptions,
    summary: Summary,
    *,
    state_dir: Path | None,
    state_url: str | None,
    run_ids: Sequence[str],
) -> None:
    """POST --notify's summary (connector/notify.py) once the outputs are written.

    The URLs are the job's and those each run was stored with (an inventory's
    `patchpilot_notify` for a host or group), each once; a failure is a warning on stderr, never
    the exit code, and names the URL by its position only.
    """
    urls = list(dict.fromkeys([*options.notify, *_stored_urls(state_dir, state_url, run_ids)]))
    if not urls:
        return
    warnings = asyncio.run(
        notify(urls, summary, on=options.notify_on, timeout=options.notify_timeout)
    )
    for warning in warnings:
        print(f"patchpilot: warning: {warning}", file=sys.stderr)


def _stored_urls(
    state_dir: Path | None, state_url: str | None, run_ids: Sequence[str]
) -> list[str]:
    store = open_store(state_dir, url=state_url)
    try:
        rows = [store.run(run_id) for run_id in run_ids]
    finally:
        store.close()
    stored = [RunOptions.model_validate_json(r.options) for r in rows if r is not None]
    return [url for options in stored for url in options.notify]
