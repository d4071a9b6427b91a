"""How dpkg's state after an apt call becomes one result per update; state.json writes."""

import json
import os
import stat
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from patchpilot.client.backends.apt import _untouched, settle
from patchpilot.client.backends.aptparse import PackageStatus
from patchpilot.client.backends.base import Update
from patchpilot.client.state import StateFile, read_state, write_atomic

UPDATE = Update("lab-base-a", "A", "1.0", "2.0")


@pytest.mark.parametrize(
    ("status", "errors", "expected"),
    [
        (PackageStatus("2.0", "ii "), {}, ("installed", "2.0", "")),
        (
            PackageStatus("2.0", "iF "),
            {"lab-base-a": "postinst exit 1"},
            ("failed", "2.0", "postinst exit 1"),
        ),
        (PackageStatus("2.0", "iU "), {}, ("failed", "2.0", "dpkg status 'iU' after the install")),
        (None, {}, ("failed", None, "dpkg does not know the package")),
        (PackageStatus("1.0", "ii "), {}, None),  # untouched: retried alone
    ],
)
def test_settle(
    status: Optional[PackageStatus],
    errors: Dict[str, str],
    expected: Optional[Tuple[str, Optional[str], str]],
) -> None:
    result = settle(UPDATE, status, errors)
    if expected is None:
        assert result is None
    else:
        assert result is not None
        assert (result.status, result.version, result.message) == expected


def test_state_is_written_atomically_0600(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = StateFile(str(path), "r1", 2)
    state.set("installing")
    state.set("waiting-ack", result="partial", exit_status=0)
    saved = read_state(str(path))
    assert saved is not None
    assert (saved["run"], saved["round"], saved["phase"], saved["result"]) == (
        "r1",
        2,
        "waiting-ack",
        "partial",
    )
    assert saved["pid"] == os.getpid()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left
    with pytest.raises(ValueError, match="unknown phase"):
        state.set("dancing")


def test_read_state_tolerates_absence_and_garbage(tmp_path: Path) -> None:
    assert read_state(str(tmp_path / "none.json")) is None
    write_atomic(str(tmp_path / "bad.json"), b"{half")
    assert read_state(str(tmp_path / "bad.json")) is None
    write_atomic(str(tmp_path / "list.json"), json.dumps([1]).encode())
    assert read_state(str(tmp_path / "list.json")) is None


@pytest.mark.parametrize(
    ("tail", "status"),
    [
        ("Failed to fetch http://repo/pool/a_2.0_all.deb Could not connect", "failed"),
        ("Unable to fetch some archives, maybe run apt-get update", "failed"),
        ("You don't have enough free space in /var/cache/apt/archives/.", "failed"),
        # the fault campaign, seed 20: the lock taken by another process between the wait
        # and apt's own call made apt leave the package alone; it failed, it was not held
        ("E:Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 191", "failed"),
        ("", "held"),
        ("Unable to correct problems, you have held broken packages.", "held"),
    ],
)
def test_a_package_apt_left_untouched(tail: str, status: str) -> None:
    """A download that failed (repository down, disk full) is a failure, not a hold (issue 11)."""
    result = _untouched(UPDATE, tail)
    assert (result.status, result.message.endswith(tail)) == (status, True)
