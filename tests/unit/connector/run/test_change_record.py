"""A run's change record folded over its rounds (issue 24, item 5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patchpilot.connector.run.change_record import merge_changes


def _round(
    upgraded: Sequence[Any] = (), installed: Sequence[Any] = (), removed: Sequence[Any] = ()
) -> dict[str, list[Any]]:
    return {"upgraded": list(upgraded), "installed": list(installed), "removed": list(removed)}


def test_one_round_is_kept_as_it_is_with_its_round() -> None:
    merged = merge_changes(
        [(1, _round([{"id": "a", "from": "1", "to": "2"}], [{"id": "n", "version": "1"}]))]
    )
    assert merged == {
        "upgraded": [{"id": "a", "from": "1", "to": "2", "round": 1}],
        "installed": [{"id": "n", "version": "1", "round": 1}],
        "removed": [],
    }


def test_later_rounds_fold_into_the_first_from_and_the_last_to() -> None:
    merged = merge_changes(
        [
            (1, _round([{"id": "a", "from": "1", "to": "2"}], [{"id": "n", "version": "1"}],
                       [{"id": "gone", "version": "0.9"}])),
            (2, _round([{"id": "a", "from": "2", "to": "3"}, {"id": "n", "from": "1", "to": "2"},
                        {"id": "b", "from": "5", "to": "6"}],
                       removed=[{"id": "b", "version": "6"}])),
            (3, _round(installed=[{"id": "gone", "version": "1.0"}])),
        ]
    )  # fmt: skip
    assert merged["upgraded"] == [
        {"id": "a", "from": "1", "to": "3", "round": 2},
        {"id": "gone", "from": "0.9", "to": "1.0", "round": 3},  # removed, then back newer
    ]
    assert merged["installed"] == [{"id": "n", "version": "2", "round": 1}]
    assert merged["removed"] == [{"id": "b", "version": "5", "round": 2}]  # its version before


def test_a_package_installed_then_removed_is_in_neither_list() -> None:
    merged = merge_changes(
        [
            (1, _round(installed=[{"id": "tmp", "version": "1"}])),
            (2, _round(removed=[{"id": "tmp", "version": "1"}])),
        ]
    )
    assert merged == {"upgraded": [], "installed": [], "removed": []}


def test_malformed_entries_are_left_out() -> None:
    merged = merge_changes([(1, {"upgraded": [{"from": "1"}, "x", {"id": 3}], "installed": None})])
    assert merged == {"upgraded": [], "installed": [], "removed": []}
