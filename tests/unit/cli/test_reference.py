"""The docs site's CLI reference is generated from the Typer app and RunOptions: every
command and every option a user may set is in it, with its help text, grouped as --help."""

from __future__ import annotations

from patchpilot.cli.main import app
from patchpilot.cli.options import flag_of
from patchpilot.cli.reference import markdown
from patchpilot.connector import flat_fields, option_meta


def test_every_run_option_is_in_the_reference_with_its_help() -> None:
    text = markdown(app)
    run = text.split("### `patchpilot run`")[1].split("### `patchpilot check`")[0]
    for name, info in flat_fields().items():
        meta = option_meta(info)
        if meta.get("cli", True) is False or meta.get("hidden"):
            continue
        flag = flag_of(name)
        assert f"`{flag}" in run or f" {flag} " in run, flag
        first_words = " ".join((info.description or "").split()[:4]).replace("|", "\\|")
        assert first_words.replace("<", "&lt;") in run, (flag, first_words)


def test_every_command_has_its_section_and_usage() -> None:
    text = markdown(app)
    for heading in ("## `patchpilot`", "### `patchpilot fleet`", "#### `patchpilot client build`"):
        assert heading in text
    assert "Usage: `patchpilot fleet [OPTIONS]" in text
    assert "| Selection | |" in text and "| Reboot | |" in text  # --help's groups


def test_help_blocks_and_table_cells_stay_markdown() -> None:
    text = markdown(app)
    assert "```text\nExamples:\n  patchpilot run web1" in text  # a \b block, as written
    assert "\b" not in text
    for line in text.splitlines():
        if line.startswith("| `"):  # one option per row: the help text's | escaped
            assert line.replace("\\|", "").count("|") - line.split("`")[1].count("|") == 3, line
