"""Prometheus metrics for node_exporter's textfile collector (`--metrics-file`).

Per server: when its last run ended and how (outcome, exit code), how long it took, updates
installed and still pending, and whether a reboot is pending. The collector reads `*.prom`
files at any moment, so the file is replaced atomically (see `write_text_atomic`).
"""

from __future__ import annotations

from collections.abc import Iterable

from patchpilot.connector.reports.model import Report, ServerReport, parse_time
from patchpilot.connector.run_status import RunStatus

__all__ = ["render_metrics"]

_METRICS = (
    ("patchpilot_last_run_timestamp_seconds", "gauge", "When the last run ended (Unix time)."),
    ("patchpilot_last_run_success", "gauge", "1 if the server's last run succeeded, else 0."),
    ("patchpilot_last_run_exit_code", "gauge", "Exit code of the server's last run."),
    ("patchpilot_last_run_outcome", "gauge", "The last run's outcome, as a label (value 1)."),
    ("patchpilot_last_run_duration_seconds", "gauge", "How long the server's last run took."),
    ("patchpilot_updates_installed", "gauge", "Updates the last run installed."),
    ("patchpilot_updates_pending", "gauge", "Updates still missing (available, failed or held)."),
    ("patchpilot_reboot_pending", "gauge", "1 if the server needs a reboot that has not happened."),
)  # fmt: skip


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _samples(report: Report, server: ServerReport) -> Iterable[tuple[str, str, float]]:
    labels = f'server="{_label(server.host)}",run_id="{_label(report.run_id)}"'
    ended = parse_time(server.finished)
    if ended is not None:
        yield "patchpilot_last_run_timestamp_seconds", labels, ended.timestamp()
    yield "patchpilot_last_run_success", labels, float(server.status is RunStatus.SUCCEEDED)
    if server.exit_code is not None:
        yield "patchpilot_last_run_exit_code", labels, float(server.exit_code)
    outcome = server.outcome or server.status
    yield "patchpilot_last_run_outcome", f'{labels},outcome="{_label(outcome)}"', 1.0
    if server.duration is not None:
        yield "patchpilot_last_run_duration_seconds", labels, server.duration
    if server.status is not RunStatus.NOT_STARTED:
        yield "patchpilot_updates_installed", labels, float(server.count("installed"))
        yield "patchpilot_updates_pending", labels, float(len(server.missing))
        yield "patchpilot_reboot_pending", labels, float(server.is_reboot_pending)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def render_metrics(report: Report) -> str:
    """Return the report's metrics in Prometheus' text exposition format."""
    by_name: dict[str, list[str]] = {name: [] for name, _, _ in _METRICS}
    for server in report.servers:
        for name, labels, value in _samples(report, server):
            by_name[name].append(f"{name}{{{labels}}} {_number(value)}")
    lines: list[str] = []
    for name, kind, help_text in _METRICS:
        if by_name[name]:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *by_name[name]]
    return "\n".join(lines) + "\n"
