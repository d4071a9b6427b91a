"""The `patchpilot` command line: the one place that turns errors into messages and exit codes.

Sub-commands live in sibling modules (`run`, `client`, `fleet`, `report_command`) and are
registered here; commands shipped beside the product (the lab's `patchpilot lab`) register
themselves through the `patchpilot.commands` entry point group, so the product never imports
them. Nothing below `cli/` prints or parses arguments. A PatchpilotError becomes one line on
stderr and its exit code; a usage error exits 64 (EX_USAGE, the native table's code); any
other exception is a bug: its traceback goes to a log file and the exit status is 70. Under
`--exit-codes wsus` every such failure exits -1 (255), as the WSUS connector did.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import traceback
from importlib.metadata import entry_points
from pathlib import Path

import typer
from typer._click import exceptions as click_errors  # typer 0.29 vendors its own click

from patchpilot.cli import client as client_cmd
from patchpilot.cli import fleet as fleet_cmd
from patchpilot.cli import report_command
from patchpilot.cli import run as run_cmd
from patchpilot.connector import Outcome, native_code, posix_status, printable
from patchpilot.errors import ConfigurationError, PatchpilotError
from patchpilot.protocol import JOB_SPEC_VERSION, PROTOCOL_VERSION, RELEASE

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False)


def _show_version(asked: bool) -> None:
    if asked:
        print(
            f"patchpilot {RELEASE} (client protocol {PROTOCOL_VERSION}, job spec "
            f"{JOB_SPEC_VERSION}; Python {platform.python_version()})"
        )
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_show_version,
        help="Print patchpilot's version and the protocol it speaks with its client, and exit.",
    ),
) -> None:
    """Apply OS updates to remote servers as one step of a scheduled workflow."""


run_cmd.register(app)
fleet_cmd.register(app)
report_command.register(app)
app.add_typer(client_cmd.app, name="client", help="Build and inspect the target-side client.")
for _plugin in entry_points(group="patchpilot.commands"):
    _plugin.load()(app)


def _crash_log() -> Path:
    """Write the current exception's traceback to a file; return its path."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="patchpilot-crash-", suffix=".log", delete=False
    ) as handle:
        traceback.print_exc(file=handle)
    return Path(handle.name)


def _is_wsus(argv: list[str]) -> bool:
    """Tell whether the command line asked for the WSUS exit-code table."""
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return "--exit-codes=wsus" in argv or ("--exit-codes", "wsus") in pairs


def _code(error_code: int, argv: list[str]) -> int:
    """Return the exit status for an error: its native code, or -1 (255) under --exit-codes wsus."""
    return posix_status(-1) if _is_wsus(argv) else error_code


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        code = 0
    except click_errors.UsageError as exc:
        exc.show()
        code = _code(ConfigurationError.exit_code, args)
    except typer.Abort:
        code = _code(native_code(Outcome.CANCELLED), args)
    except PatchpilotError as exc:
        print(f"patchpilot: error: {printable(str(exc))}", file=sys.stderr)
        code = _code(exc.exit_code, args)
    except Exception:
        print(f"patchpilot: internal error; traceback in {_crash_log()}", file=sys.stderr)
        code = _code(native_code(Outcome.INTERNAL), args)
    sys.exit(code if isinstance(code, int) else 0)
