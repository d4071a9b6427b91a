"""Both exit-code tables, as a scheduler sees them."""

from __future__ import annotations

import pytest

from patchpilot.connector.exitcodes import (
    NATIVE,
    Outcome,
    Tally,
    outcome_of_error,
    posix_status,
    wsus_code,
)
from patchpilot.errors import (
    Cancelled,
    ClientFailedError,
    ConfigurationError,
    ConnectError,
    HostKeyError,
    PhaseTimeout,
    RebootError,
    TargetLockedError,
)


def test_native_codes_avoid_shell_and_signal_ranges() -> None:
    codes = list(NATIVE.values())
    assert len(set(codes)) == len(codes)
    assert all(0 <= c <= 123 for c in codes)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ConfigurationError("x"), Outcome.USAGE),
        (ConnectError("x"), Outcome.UNREACHABLE),
        (HostKeyError("x"), Outcome.UNREACHABLE),
        (RebootError("x"), Outcome.NOT_BACK),
        (TargetLockedError("x"), Outcome.LOCKED),
        (PhaseTimeout("stream", 1), Outcome.TIMEOUT),
        (Cancelled("x"), Outcome.CANCELLED),
        (ClientFailedError("x"), Outcome.CLIENT_FAILED),
    ],
)
def test_error_classes_follow_the_native_table(error: Exception, outcome: Outcome) -> None:
    assert outcome_of_error(error) is outcome  # type: ignore[arg-type]
    assert NATIVE[outcome] == error.exit_code  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("outcome", "tally", "code"),
    [
        (Outcome.SUCCESS, Tally(), 0),
        (Outcome.SUCCESS, Tally(has_warnings=True), 5),
        (Outcome.SUCCESS, Tally(is_rebooted=True), 10),
        (Outcome.SUCCESS, Tally(is_rebooted=True, has_warnings=True), 15),
        (Outcome.SUCCESS, Tally(applied=3), 100),
        (Outcome.REBOOT_PENDING, Tally(applied=3, has_warnings=True), 105),
        (Outcome.SUCCESS, Tally(applied=3, is_rebooted=True), 110),
        (Outcome.SUCCESS, Tally(applied=3, is_rebooted=True, has_warnings=True), 115),
        (Outcome.PARTIAL, Tally(applied=3, is_rebooted=True), 9),
        (Outcome.PARTIAL, Tally(applied=3), -1),
        (Outcome.ALL_FAILED, Tally(), -1),
        (Outcome.SUCCESS, Tally(is_check_only=True), 1000),
        (Outcome.UPDATES_AVAILABLE, Tally(is_check_only=True, applied=2), 1100),
        (Outcome.UPDATES_AVAILABLE, Tally(is_check_only=True, applied=2, has_warnings=True), 1105),
        (Outcome.UNREACHABLE, Tally(), -1),
        (Outcome.NOT_BACK, Tally(applied=1), -1),
        (Outcome.CANCELLED, Tally(), -1),
    ],
)
def test_wsus_table(outcome: Outcome, tally: Tally, code: int) -> None:
    assert wsus_code(outcome, tally) == code


def test_posix_status_keeps_eight_bits() -> None:
    assert [posix_status(c) for c in (-1, 0, 115, 1000, 1100)] == [255, 0, 115, 232, 76]
