"""Include/Exclude list files: one entry a line, a bad one named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpilot.connector.update_lists import parse_list, read_list_file
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
