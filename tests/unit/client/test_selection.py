"""Selection, outcome and Debian version order: the pure decisions of a round."""

from typing import Dict, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.client.backends.base import Update, UpdateResult
from patchpilot.client.backends.debversion import compare_versions
from patchpilot.client.jobspec import Selection
from patchpilot.client.outcome import round_status, will_reboot
from patchpilot.client.selection import select_updates


def upd(name: str, version: str = "2.0-1", security: bool = False) -> Update:
    return Update(name, name, "1.0-1", version, is_security=security)


def newer(candidate: str, planned: str) -> bool:
    return compare_versions(candidate, planned) > 0


UPDATES = [
    upd("lab-base-a"),
    upd("lab-fail"),
    upd("lab-security", security=True),
    upd("openssl", "3.0.2-1"),
]


@pytest.mark.parametrize(
    ("selection", "selected", "skipped"),
    [
        (Selection(), ["lab-base-a", "lab-fail", "lab-security", "openssl"], {}),
        (
            Selection(include=("lab-*",), exclude=("lab-fail",)),
            ["lab-base-a", "lab-security"],
            {"lab-fail": "in the exclude list", "openssl": "not in the include list"},
        ),
        (
            Selection(classification="security"),
            ["lab-security"],
            {
                "lab-base-a": "not a security update",
                "lab-fail": "not a security update",
                "openssl": "not a security update",
            },
        ),
        (
            Selection(plan={"lab-base-a": "2.0-1", "openssl": "3.0.1-1"}),
            ["lab-base-a"],
            {
                "lab-fail": "not in the frozen plan",
                "lab-security": "not in the frozen plan",
                "openssl": "candidate 3.0.2-1 exceeds the frozen plan's 3.0.1-1",
            },
        ),
        (
            Selection(plan={"openssl": "3.0.3-1"}),
            ["openssl"],
            {
                "lab-base-a": "not in the frozen plan",
                "lab-fail": "not in the frozen plan",
                "lab-security": "not in the frozen plan",
            },
        ),
    ],
)
def test_select(selection: Selection, selected: List[str], skipped: Dict[str, str]) -> None:
    plan = select_updates(UPDATES, selection, newer)
    assert [u.id for u in plan.selected] == selected
    assert dict(plan.skipped) == skipped
    assert plan.to_fields()["plan"] == {u.id: u.candidate_version for u in plan.selected}


@pytest.mark.parametrize(
    ("left", "right", "sign"),
    [
        ("1.0-1", "1.0-1", 0),
        ("1.0-1", "1.0-2", -1),
        ("1:0.9", "2.0", 1),
        ("1.0~rc1-1", "1.0-1", -1),
        ("1.0-1+deb12u1", "1.0-1", 1),
        ("1.10", "1.9", 1),
        ("2.0a", "2.0", 1),
        ("2.0", "2.0.1", -1),
        ("1.0-1~bpo1", "1.0-1", -1),
        ("3.0-13+deb12u1", "3.0-13", 1),
        ("0:1.0", "1.0", 0),
    ],
)
def test_debian_version_order(left: str, right: str, sign: int) -> None:
    assert compare_versions(left, right) == sign
    assert compare_versions(right, left) == -sign


versions = st.from_regex(r"\A([1-9]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,4})?\Z")


@given(versions, versions)
def test_version_order_is_antisymmetric(left: str, right: str) -> None:
    assert compare_versions(left, right) == -compare_versions(right, left)


def res(*statuses: str) -> List[UpdateResult]:
    return [UpdateResult(str(i), s) for i, s in enumerate(statuses)]


@pytest.mark.parametrize(
    ("action", "selected", "results", "expected"),
    [
        ("install", 0, [], "nothing"),
        ("scan", 3, [], "success"),
        ("install", 2, res("installed", "installed"), "success"),
        ("install", 2, res("installed", "failed"), "partial"),
        ("install", 2, res("failed", "held"), "failed"),
        ("download", 1, res("downloaded"), "success"),
    ],
)
def test_round_status(
    action: str, selected: int, results: List[UpdateResult], expected: str
) -> None:
    assert round_status(action, selected, results) == expected


def test_will_reboot() -> None:
    assert will_reboot("install", "if-required", "success", True)
    assert not will_reboot("install", "if-required", "success", False)
    assert will_reboot("install", "always", "nothing", False)
    assert not will_reboot("install", "never", "success", True)
    assert not will_reboot("scan", "always", "success", True)
    assert not will_reboot("install", "always", "error", True)
