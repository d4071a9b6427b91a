"""Helpers for the docs tests: the documented exit codes, read from docs/exit-codes.md."""

from __future__ import annotations

import re
from pathlib import Path

from patchpilot.connector.exitcodes import NATIVE
from patchpilot.connector.fleet import EXIT_FLEET_FAILED

DOCS = Path(__file__).resolve().parents[3] / "docs"


def documented_native_codes() -> set[int]:
    """Return the native codes of docs/exit-codes.md's table (its first column)."""
    text = (DOCS / "exit-codes.md").read_text()
    return {int(m[1]) for m in re.finditer(r"^\| (\d+) \|", text, re.MULTILINE)}


def native_codes() -> set[int]:
    """Return every native exit code the program can end with."""
    return set(NATIVE.values()) | {EXIT_FLEET_FAILED}
