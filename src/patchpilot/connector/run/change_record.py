"""A run's change record: what its rounds changed in the target's package database.

Pure. Each install round's final record carries `changes` (client/inventory_diff.py: packages
upgraded from/to, newly installed, removed, read from the package database before and after
the round). The run's record folds them in round order: a package upgraded twice keeps its
first `from` and its last `to`; one installed and then removed is gone from both lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["merge_changes"]


def merge_changes(
    rounds: Iterable[tuple[int, Mapping[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    """Return the run's {"upgraded", "installed", "removed"} lists (each entry with the round
    that made it) from (round, changes) pairs in round order; empty lists when nothing."""
    upgraded: dict[str, dict[str, Any]] = {}
    installed: dict[str, dict[str, Any]] = {}
    removed: dict[str, dict[str, Any]] = {}
    for round_no, changes in rounds:
        for entry in _entries(changes, "upgraded"):
            name, to = entry["id"], str(entry.get("to", ""))
            if name in installed:
                installed[name] = {**installed[name], "version": to}
            else:
                first = upgraded.get(name, {}).get("from", str(entry.get("from", "")))
                upgraded[name] = {"id": name, "from": first, "to": to, "round": round_no}
        for entry in _entries(changes, "installed"):
            name, version = entry["id"], str(entry.get("version", ""))
            gone = removed.pop(name, None)
            if gone is None:
                installed[name] = {"id": name, "version": version, "round": round_no}
            elif gone["version"] != version:
                upgraded[name] = {
                    "id": name,
                    "from": gone["version"],
                    "to": version,
                    "round": round_no,
                }
        for entry in _entries(changes, "removed"):
            name = entry["id"]
            if installed.pop(name, None) is not None:
                continue
            was = upgraded.pop(name, {}).get("from", str(entry.get("version", "")))
            removed[name] = {"id": name, "version": was, "round": round_no}
    return {
        "upgraded": sorted(upgraded.values(), key=_id),
        "installed": sorted(installed.values(), key=_id),
        "removed": sorted(removed.values(), key=_id),
    }


def _entries(changes: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    found = changes.get(key) if isinstance(changes, Mapping) else None
    return [e for e in found or () if isinstance(e, Mapping) and isinstance(e.get("id"), str)]


def _id(entry: Mapping[str, Any]) -> str:
    return str(entry["id"])
