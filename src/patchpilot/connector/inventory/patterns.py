"""Ansible's host pattern language, as `--limit` reads it, over plain names.

`a:b` or `a,b` unions, `!x` exclusions, `&x` intersections, `all` and `*`, shell globs
(`web*`, `db[12]`), `~regex`, and subscripts (`web[0]`, `web[1:3]`, `web[-1]`). Terms are
evaluated the way Ansible orders them: unions first (in the order written), then
intersections, then exclusions; a pattern of only `!`/`&` terms starts from `all`.
Pure functions: the caller passes each group's hosts (in inventory order) and every host name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence

from patchpilot.errors import ConfigurationError

__all__ = ["select_names"]

_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+):([0-9]*))\]$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:]+$")
_GLOB_CHARS = (".", "?", "*", "[")


def split_pattern(pattern: str) -> list[str]:
    """Split a pattern into its terms: on `,` if it has one, else on `:` outside brackets."""
    pattern = pattern.strip()
    if "," in pattern:
        terms = pattern.split(",")
    elif pattern.count(":") > 1 and _IPV6.match(pattern):
        terms = [pattern]
    else:
        terms = _TERM.findall(pattern)
    return [t.strip() for t in terms if t.strip()]


def select_names(
    pattern: str, groups: Mapping[str, Sequence[str]], hosts: Sequence[str]
) -> list[str]:
    """Return the host names pattern selects, each once, in the order Ansible yields them.

    groups maps each group to all its hosts (its own and its descendants'). Raises
    ConfigurationError on a bad regex or an out-of-range subscript.
    """
    known = set(hosts)
    selected: dict[str, None] = {}  # ordered, and a look-up: a fleet has thousands of hosts
    for term in _ordered(split_pattern(pattern)):
        bare = term[1:] if term.startswith(("!", "&")) else term
        matched = [term] if term in known else _match_term(bare, groups, hosts)
        if term.startswith(("!", "&")):
            keep, matching = term.startswith("&"), set(matched)
            selected = dict.fromkeys(h for h in selected if (h in matching) is keep)
        else:
            selected.update(dict.fromkeys(matched))
    return list(selected)


def _ordered(terms: list[str]) -> list[str]:
    unions = [t for t in terms if not t.startswith(("!", "&"))]
    intersections = [t for t in terms if t.startswith("&")]
    exclusions = [t for t in terms if t.startswith("!")]
    return (unions or ["all"]) + intersections + exclusions


def _match_term(term: str, groups: Mapping[str, Sequence[str]], hosts: Sequence[str]) -> list[str]:
    expression, subscript = _split_subscript(term)
    matched = _enumerate(expression, groups, hosts)
    if subscript is None or not matched:
        return matched
    start, end = subscript
    if end:
        return matched[start : (len(matched) if end == -1 else end + 1)]
    try:
        return [matched[start]]
    except IndexError:
        raise ConfigurationError(f"no host matches the subscripted pattern {term!r}") from None


def _split_subscript(term: str) -> tuple[str, tuple[int, int | None] | None]:
    """Split `web[1:3]` (inclusive), `web[2:]` or `web[-1]` off a term; `web[:2]` is a glob."""
    match = None if term.startswith("~") else _SUBSCRIPT.match(term)
    if match is None:
        return term, None
    expression, index, start, end = match.groups()
    if index is not None:
        return expression, (int(index), None)
    return expression, (int(start), int(end) if end else -1)


def _enumerate(
    expression: str, groups: Mapping[str, Sequence[str]], hosts: Sequence[str]
) -> list[str]:
    """Hosts of every group the expression matches, then hosts it matches by name."""
    matcher = _matcher(expression)
    matching_groups = [g for g in groups if matcher(g)]
    found: dict[str, None] = {}
    for group in matching_groups:
        found.update(dict.fromkeys(groups[group]))
    if not matching_groups or expression.startswith("~") or _has_glob(expression):
        found.update(dict.fromkeys(h for h in hosts if matcher(h)))
    return list(found)


def _has_glob(expression: str) -> bool:
    return any(c in expression for c in _GLOB_CHARS)


def _matcher(expression: str) -> Callable[[str], re.Match[str] | None]:
    try:
        if expression.startswith("~"):
            return re.compile(expression[1:]).match
        return re.compile(fnmatch.translate(expression)).match
    except re.error as exc:
        raise ConfigurationError(f"invalid host pattern {expression!r}: {exc}") from exc
