"""`patchpilot --version`: the release from its one place, the same in the installed metadata."""

from importlib.metadata import version

from typer.testing import CliRunner

from patchpilot import __version__
from patchpilot.cli.main import app
from patchpilot.client import CLIENT_VERSION
from patchpilot.protocol import PROTOCOL_VERSION, RELEASE


def test_version_prints_the_release_and_the_protocol() -> None:
    shown = CliRunner().invoke(app, ["--version"])
    assert shown.exit_code == 0
    assert shown.output.startswith(f"patchpilot {RELEASE} (client protocol {PROTOCOL_VERSION},")


def test_one_release_everywhere() -> None:
    """pyproject.toml reads RELEASE (dynamic version): metadata, package and client agree."""
    assert version("patchpilot") == __version__ == CLIENT_VERSION == RELEASE


def test_version_needs_no_command_and_ignores_one() -> None:
    shown = CliRunner().invoke(app, ["--version", "run", "--bogus"])
    assert shown.exit_code == 0 and shown.output.startswith("patchpilot ")
