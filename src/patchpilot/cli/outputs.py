"""CLI: the `--report` and `--metrics-file` options of `run` and `fleet`, and where the end of
a job's warnings go (stderr).

The files themselves are written by the connector's job entry point (connector/job.py), after
the result file: they never cost the run its result. A report is read back from the state
store, so the same files can be made any time later with `patchpilot report`
(cli/report_command.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["MetricsFile", "ReportFile", "warn"]

ReportFile = Annotated[
    Path | None,
    typer.Option(help="Write a report here at the end; .html, .xml (JUnit), .csv or .json."),
]
MetricsFile = Annotated[
    Path | None,
    typer.Option(help="Write node_exporter textfile metrics here (e.g. .../patchpilot.prom)."),
]


def warn(message: str) -> None:
    """Say on stderr what failed after the run (a report, a webhook): never the exit code."""
    print(f"patchpilot: warning: {message}", file=sys.stderr)
