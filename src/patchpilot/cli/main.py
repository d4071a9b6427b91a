"""The `patchpilot` command line: the one place that turns errors into messages and exit codes.

Sub-commands live in sibling modules (`run`, `lab`, `client`, `fleet`) and are registered
here; nothing below `cli/` prints or parses arguments. A PatchpilotError becomes one line on
stderr and its exit code; a usage error exits 64 (EX_USAGE, the native table's code); any
other exception is a bug: its traceback goes to a log file and the exit status is 70.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path

import typer
from typer._click import exceptions as click_errors  # typer 0.29 vendors its own click

from patchpilot.cli import client as client_cmd
from patchpilot.cli import fleet as fleet_cmd
from patchpilot.cli import lab as lab_cmd
from patchpilot.cli import run as run_cmd
from patchpilot.connector.exitcodes import Outcome, native_code
from patchpilot.errors import ConfigurationError, PatchpilotError

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
run_cmd.register(app)
fleet_cmd.register(app)
app.add_typer(lab_cmd.app, name="lab", help="Start and control a lab of real test servers.")
app.add_typer(client_cmd.app, name="client", help="Build and inspect the target-side client.")


def _crash_log() -> Path:
    """Write the current exception's traceback to a file; return its path."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="patchpilot-crash-", suffix=".log", delete=False
    ) as handle:
        traceback.print_exc(file=handle)
    return Path(handle.name)


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        code = 0
    except click_errors.UsageError as exc:
        exc.show()
        code = ConfigurationError.exit_code
    except typer.Abort:
        code = native_code(Outcome.CANCELLED)
    except PatchpilotError as exc:
        print(f"patchpilot: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except Exception:
        print(f"patchpilot: internal error; traceback in {_crash_log()}", file=sys.stderr)
        code = native_code(Outcome.INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)
