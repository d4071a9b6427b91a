"""The `patchpilot` command line: the one place that turns errors into messages and exit codes.

Sub-commands live in sibling modules (`run`, `lab`, `client`, `fleet`) and are registered
here; nothing below `cli/` prints or parses arguments.
"""

from __future__ import annotations

import sys

import typer

from patchpilot.cli import client as client_cmd
from patchpilot.cli import fleet as fleet_cmd
from patchpilot.cli import lab as lab_cmd
from patchpilot.cli import run as run_cmd
from patchpilot.errors import PatchpilotError

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
run_cmd.register(app)
fleet_cmd.register(app)
app.add_typer(lab_cmd.app, name="lab", help="Start and control a lab of real test servers.")
app.add_typer(client_cmd.app, name="client", help="Build and inspect the target-side client.")


def main() -> None:
    try:
        app()
    except PatchpilotError as exc:
        print(f"patchpilot: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
