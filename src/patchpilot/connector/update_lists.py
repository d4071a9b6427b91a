"""Include/Exclude lists (`--include-file`, `--exclude-file`): one update name, KB number or
glob a line, read from a file the operator keeps."""

from __future__ import annotations

import re
from pathlib import Path

from patchpilot.errors import ConfigurationError

__all__ = ["parse_list", "read_list_file"]

_ENTRY_RE = re.compile(r"^[A-Za-z0-9.+_:*?\[\]!-]{1,200}$")


def parse_list(text: str, *, source: str = "list") -> tuple[str, ...]:
    """Parse an Include/Exclude list: one name or glob a line, `#` comments, blanks ignored.

    Raise ConfigurationError naming source:line for an entry that is not a package name,
    KB number or glob.
    """
    entries: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        if not _ENTRY_RE.match(entry):
            raise ConfigurationError(
                f"{source}:{number}: {entry[:60]!r} is not an update name, KB number or glob"
            )
        entries.append(entry)
    return tuple(entries)


def read_list_file(path: str) -> tuple[str, ...]:
    """Read and parse a list file; raise ConfigurationError when unreadable or malformed."""
    try:
        data = Path(path).read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read list file {path}: {exc}") from exc
    if "\0" in text:
        raise ConfigurationError(f"{path}: binary data, not a list of updates")
    return parse_list(text, source=path)
