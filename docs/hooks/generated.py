"""MkDocs hook: the generated parts of the docs site, made at each build (never written by hand).

A page holds a marker; the build replaces it: `<!-- generated: cli-reference -->` becomes
the reference of every command and option (patchpilot.cli.reference, from the Typer app and
RunOptions). A marker the hook does not know, or a generator's error, fails the build.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from patchpilot.cli.main import app
from patchpilot.cli.reference import markdown

_GENERATORS: dict[str, Callable[[], str]] = {"cli-reference": lambda: markdown(app)}
_MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")


def _fill(match: re.Match[str]) -> str:
    name = match[1]
    if name not in _GENERATORS:
        raise ValueError(f"unknown generated part {name!r} (known: {sorted(_GENERATORS)})")
    return _GENERATORS[name]()


def on_page_markdown(markdown_text: str, **_: Any) -> str:
    return _MARKER.sub(_fill, markdown_text)
