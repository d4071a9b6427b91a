"""Run options and the Include/Exclude list files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from patchpilot.connector.options import RunOptions, parse_list, read_list_file
from patchpilot.errors import ConfigurationError


def test_list_with_comments_and_globs() -> None:
    text = "# nightly\nopenssl*\n\n  lab-a  # pinned\nKB5034441\nlib?x[12]\n"
    assert parse_list(text) == ("openssl*", "lab-a", "KB5034441", "lib?x[12]")


@pytest.mark.parametrize("line", ["rm -rf /", "a;b", "$(reboot)", "x" * 201, "a/b"])
def test_malformed_entry_names_file_and_line(line: str) -> None:
    with pytest.raises(ConfigurationError, match=r"inc.txt:2:"):
        parse_list(f"ok\n{line}\n", source="inc.txt")


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_list_file(str(tmp_path / "missing"))
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigurationError):
        read_list_file(str(tmp_path / "bin"))


def test_modes_and_validation() -> None:
    assert RunOptions().action == "install" and RunOptions(check_only=True).mode == "check-only"
    with pytest.raises(ValidationError):
        RunOptions(check_only=True, download_only=True)
    with pytest.raises(ValidationError):
        RunOptions(run_id="../etc")
    with pytest.raises(ValidationError):
        RunOptions(max_rounds=0)


def test_windows_lists_hold_kb_numbers_or_globs_normalised() -> None:
    options = RunOptions(os="windows", include=["5031356", "kb50*"], exclude=["KB890830"])
    assert options.include == ("KB5031356", "KB50*") and options.exclude == ("KB890830",)
    with pytest.raises(ValidationError, match="not a KB number: 'openssl'"):
        RunOptions(os="windows", exclude=["openssl"])
    assert RunOptions(include=["openssl*"]).include == ("openssl*",)  # Linux: package names
