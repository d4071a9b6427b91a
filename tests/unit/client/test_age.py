"""--min-age on dnf and zypper: updateinfo's issued dates, read in both spellings, and the
reason an update too young (or undated) is left out, with the day it becomes eligible."""

import datetime

import pytest

from patchpilot.client.age import age_reason, normalize_issued

TODAY = datetime.date(2026, 12, 7)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20 00:00:00", "2026-11-20 00:00:00"),  # Fedora, RHEL
        ("1795132800", "2026-11-20 00:00:00"),  # SUSE: seconds since the epoch
        ("2026-11-20", "2026-11-20 00:00:00"),
        ("2026-11-20T13:45", "2026-11-20 13:45:00"),
        (" 2026-11-20 13:45:07 ", "2026-11-20 13:45:07"),
        ("", ""),
        ("yesterday", ""),
        ("2026-13-40 00:00:00", ""),
        ("9" * 40, ""),
    ],
)
def test_issued_dates_in_both_spellings(raw: str, expected: str) -> None:
    assert normalize_issued(raw) == expected


def test_too_young_says_when_it_becomes_eligible() -> None:
    reason = age_reason("2026-12-01 10:00:00", 7, "exclude", TODAY)
    assert reason == (
        "issued 2026-12-01, 6 day(s) ago: younger than --min-age 7; eligible from 2026-12-08"
    )
    assert age_reason("2026-11-30 23:59:59", 7, "exclude", TODAY) is None  # 7 days: old enough
    assert age_reason("1795132800", 18, "exclude", TODAY) is not None  # 17 days old
    assert age_reason("2026-12-07 00:00:00", 0, "exclude", TODAY) is None


def test_undated_updates_follow_min_age_undated() -> None:
    assert "age is unknown" in str(age_reason("", 7, "exclude", TODAY))
    assert "age is unknown" in str(age_reason("not a date", 7, "exclude", TODAY))
    assert age_reason("", 7, "include", TODAY) is None


def test_without_min_age_nothing_is_left_out() -> None:
    assert age_reason("", None, "exclude", TODAY) is None
    assert age_reason("2026-12-07 00:00:00", None, "exclude", TODAY) is None
