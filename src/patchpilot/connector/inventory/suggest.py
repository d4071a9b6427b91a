"""Suggest the names a user probably meant: "did you mean web01, web02?" for a typo.

Used where a name from the command line is looked up in an inventory (a host, a group, a
--limit pattern that matches nothing). Pure: difflib on the known names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["did_you_mean", "pattern_terms"]


def did_you_mean(name: str, known: Iterable[str], *, limit: int = 3) -> str:
    """Return `; did you mean 'a', 'b'?` with the closest known names, or '' when none is close."""
    choices = sorted(set(known))
    close = difflib.get_close_matches(name, choices, n=limit, cutoff=0.6)
    if not close:
        lowered = name.lower()
        close = [c for c in choices if lowered in c.lower() or c.lower() in lowered][:limit]
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def pattern_terms(pattern: str) -> list[str]:
    """Return the plain names of an Ansible host pattern (no globs, regexes or subscripts)."""
    terms = (t.lstrip("!&") for t in re.split(r"[:,]", pattern))
    return [t for t in terms if t and not t.startswith("~") and not re.search(r"[*?\[\]]", t)]
