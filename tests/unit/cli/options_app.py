"""A command taking every run option (cli/options.py), invoked as a user would: the options
it was given, or the exit code and the text of its refusal."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from patchpilot.cli.options import with_run_options
from patchpilot.connector.options import RunOptions


def invoke(argv: list[str]) -> tuple[int, list[RunOptions], str]:
    """Return the exit code, the RunOptions the command received (none when refused), and
    its output with any exception's text (200 columns: help lines stay whole)."""
    seen: list[RunOptions] = []
    app = typer.Typer()

    def command(options: RunOptions) -> None:
        seen.append(options)

    app.command()(with_run_options(command))
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    return result.exit_code, seen, result.output + str(result.exception or "")
