"""Reports people look at: HTML, JUnit XML, CSV, JSON and Prometheus metrics of a run.

`gather` reads a run's or a fleet run's data from the state store into a `Report`; each
format is a pure function from that `Report` to text (`render`), and `write_text_atomic`
puts the text in place so a reader (a mail job, node_exporter) never sees half a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from patchpilot.connector.reports.csv import render_csv
from patchpilot.connector.reports.gather import gather
from patchpilot.connector.reports.html import render_html
from patchpilot.connector.reports.junit import render_junit
from patchpilot.connector.reports.metrics import render_metrics
from patchpilot.connector.reports.model import Report, build_report
from patchpilot.connector.run_result import write_text_atomic
from patchpilot.errors import ConfigurationError

__all__ = [
    "FORMATS",
    "Report",
    "build_report",
    "format_of",
    "gather",
    "render",
    "render_metrics",
    "write_text_atomic",
]


def _json(report: Report) -> str:
    return json.dumps(dict(report.document), indent=2) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {
    "html": render_html,
    "junit": render_junit,
    "csv": render_csv,
    "json": _json,
}
_EXTENSIONS = {".html": "html", ".htm": "html", ".xml": "junit", ".csv": "csv", ".json": "json"}


def render(report: Report, fmt: str) -> str:
    """Return the report in fmt (html, junit, csv, json); ConfigurationError if unknown."""
    if fmt not in FORMATS:
        raise ConfigurationError(f"unknown report format {fmt!r} ({', '.join(FORMATS)})")
    return FORMATS[fmt](report)


def format_of(path: str | Path) -> str:
    """Return the format a report file's extension asks for; ConfigurationError if none."""
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise ConfigurationError(
            f"--report {path}: the extension picks the format ({', '.join(_EXTENSIONS)})"
        )
    return _EXTENSIONS[suffix]
