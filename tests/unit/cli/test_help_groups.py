"""Every option of run, check and fleet sits in a named help group (none left in "Other")."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from patchpilot.cli.main import app


@pytest.mark.parametrize("command", ["run", "check", "fleet"])
def test_no_option_is_left_ungrouped(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "Other:" not in result.output and "Selection:" in result.output
