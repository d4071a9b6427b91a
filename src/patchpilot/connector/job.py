"""One job from its run to its last output: the entry point `run` and `fleet` on the command line
and the Airflow trigger share (issue 28).

`run_job` awaits the job's work (one run on one target, or a fleet) on the caller's store,
then finishes it in one order: the result file first (nothing after the run may cost it its
result), then a fleet's document (so `patchpilot report` finds it later), the report and the
metrics file, then the caller's `on_end` (the command line prints its result line there),
then `--notify`'s summary. Whatever fails after the run (a report a target's data breaks, a
folder that cannot be written, a webhook) is a warning handed to `on_warning`, its traceback
in the connector's log: the servers are patched either way, so the job keeps its exit code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from patchpilot.connector.events import utc_now
from patchpilot.connector.fleet.rollout import FleetResult
from patchpilot.connector.notify import Summary, fleet_summary, notify, run_summary
from patchpilot.connector.options import RunOptions
from patchpilot.connector.printable import printable
from patchpilot.connector.reports import (
    Report,
    format_of,
    gather,
    render,
    render_metrics,
    write_text_atomic,
)
from patchpilot.connector.run_result import RunResult, write_result
from patchpilot.connector.store import Store
from patchpilot.errors import ConfigurationError

__all__ = ["METRICS_MODE", "JobEnd", "JobFiles", "run_job", "write_outputs", "write_report_file"]

METRICS_MODE = 0o644  # node_exporter's textfile collector, another user, reads it
log = logging.getLogger("patchpilot")
_Result = TypeVar("_Result", bound=RunResult | FleetResult)


@dataclass(frozen=True)
class JobFiles:
    """The files a job writes at its end, each optional: `--result-file`, `--report` (its
    extension picks the format), `--metrics-file`."""

    result_file: Path | None = None
    report: Path | None = None
    metrics_file: Path | None = None

    def check(self) -> None:
        """Refuse a report whose extension names no format, before any server is touched."""
        if self.report is not None:
            format_of(self.report)


@dataclass(frozen=True)
class JobEnd(Generic[_Result]):
    """What a job ended with: its result, the result document (the result file's and the
    result line's), and the runs whose stored options may name more webhooks."""

    result: _Result
    run_id: str  # the run's or the fleet's: its report's
    document: dict[str, Any]
    run_ids: tuple[str, ...]
    is_fleet: bool = field(default=False)

    @classmethod
    def of_run(cls, result: RunResult) -> JobEnd[RunResult]:
        return JobEnd(result, result.run_id, result.to_dict(), (result.run_id,))

    @classmethod
    def of_fleet(cls, run_id: str, result: FleetResult) -> JobEnd[FleetResult]:
        run_ids = tuple(str(o.result.get("run_id")) for o in result.outcomes if o and o.result)
        document = {"run_id": run_id, **result.to_dict()}
        return JobEnd(result, run_id, document, run_ids, is_fleet=True)

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    def summary(self, report: Path | None) -> Summary:
        """Return what --notify says of this job (naming the report file, if one)."""
        where = str(report) if report else None
        made = fleet_summary if self.is_fleet else run_summary
        return made(self.document, report=where)


def _nothing(end: JobEnd[Any]) -> None:
    """Add nothing between the outputs and the notifications."""


async def run_job(
    work: Awaitable[JobEnd[_Result]],
    options: RunOptions,
    store: Store,
    *,
    files: JobFiles = JobFiles(),
    on_warning: Callable[[str], None],
    on_end: Callable[[JobEnd[_Result]], None] = _nothing,
) -> JobEnd[_Result]:
    """Await work (it runs on store, which stays the caller's), then finish the job: the
    result file, the fleet's document, the report and metrics, on_end, the notifications.

    An OSError writing the result file ends the job there (the one output whose loss is not
    a warning); anything later is a warning.
    """
    end = await work
    if files.result_file is not None:
        write_result(end.document, files.result_file)
    fleet_document = end.document if end.is_fleet else None
    for warning in write_outputs(store, end.run_id, files, fleet_document=fleet_document):
        on_warning(warning)
    on_end(end)
    urls = [*options.notify, *_stored_urls(store, end.run_ids)]
    for warning in await notify(
        list(dict.fromkeys(urls)),
        end.summary(files.report),
        on=options.notify_on,
        timeout=options.notify_timeout,
    ):
        on_warning(warning)
    return end


def write_outputs(
    store: Store,
    run_id: str,
    files: JobFiles,
    *,
    fleet_document: Mapping[str, Any] | None = None,
) -> list[str]:
    """Store a fleet's document (so `patchpilot report` finds it) and write the report and
    metrics files of run_id (a run's or a fleet's); return what failed, as warnings."""
    makers: dict[Path, Callable[[Report], str]] = {}
    if files.report is not None:
        fmt = format_of(files.report)
        makers[files.report] = lambda gathered: render(gathered, fmt)
    if files.metrics_file is not None:
        makers[files.metrics_file] = render_metrics
    try:
        if fleet_document is not None:
            store.save_fleet(run_id, utc_now(), fleet_document)
        gathered = gather(store, run_id) if makers else None
    except Exception as exc:  # the run's result is out already: warn only
        return [_failed(label, exc) for label in _labels(makers) or ["the fleet's document"]]
    warnings: list[str] = []
    for path, make in makers.items():
        try:
            text = make(gathered) if gathered is not None else ""
        except Exception as exc:  # as above
            warnings.append(_failed(f"the report {path.name}", exc))
            continue
        try:
            write_report_file(
                text, path, mode=METRICS_MODE if path == files.metrics_file else 0o600
            )
        except ConfigurationError as exc:
            warnings.append(str(exc))
    return warnings


def _labels(makers: dict[Path, Callable[[Report], str]]) -> list[str]:
    return [f"the report {path.name}" for path in makers]


def _failed(label: str, exc: Exception) -> str:
    """Say what could not be made or stored; keep the traceback in the connector's log."""
    log.error("%s could not be made", label, exc_info=exc)
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"{label} could not be made: {printable(reason)}"


def write_report_file(text: str, path: Path, *, mode: int = 0o600) -> None:
    """Write a report or metrics file atomically; ConfigurationError names it if that fails."""
    try:
        write_text_atomic(text, path, mode=mode)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _stored_urls(store: Store, run_ids: Sequence[str]) -> list[str]:
    """Return the --notify URLs the job's runs were stored with (an inventory's
    `patchpilot_notify` for a host or group): a fleet's servers may add their own."""
    rows = [store.run(run_id) for run_id in run_ids]
    stored = [RunOptions.model_validate_json(r.options) for r in rows if r is not None]
    return [url for options in stored for url in options.notify]
