"""The change record of a round: the package database before and after (issue 24, item 5)."""

from patchpilot.client.inventory_diff import change_record


def test_upgraded_installed_and_removed_from_two_inventories() -> None:
    before = {"app": "1.0", "old": "1.0", "same": "3.1", "lib": "2.0"}
    after = {"app": "2.0", "new": "1.0", "same": "3.1", "lib": "2.1"}
    assert change_record(before, after) == {
        "upgraded": [
            {"id": "app", "from": "1.0", "to": "2.0"},
            {"id": "lib", "from": "2.0", "to": "2.1"},
        ],
        "installed": [{"id": "new", "version": "1.0"}],
        "removed": [{"id": "old", "version": "1.0"}],
    }


def test_no_record_without_both_inventories() -> None:
    assert change_record(None, {"a": "1"}) is None
    assert change_record({"a": "1"}, None) is None
    assert change_record({}, {}) == {"upgraded": [], "installed": [], "removed": []}
