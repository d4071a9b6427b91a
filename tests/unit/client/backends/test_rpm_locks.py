"""Waiting for rpm's fcntl lock and for dnf's/zypper's pid-file locks, naming the holder."""

import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from patchpilot.client.backends.dpkg import LockTimeout, wait_for_locks

HOLD = (
    "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.lockf(f, fcntl.LOCK_EX); "
    "print('held', flush=True); time.sleep(30)"
)


def test_pid_file_lock_names_its_live_holder(tmp_path: Path) -> None:
    ready = "import time; print('ready', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", ready], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        pid_file = tmp_path / "rpmdb_lock.pid"
        pid_file.write_text(f"{holder.pid}\n")
        seen: List[Dict[str, object]] = []
        with pytest.raises(LockTimeout, match=r"rpmdb_lock\.pid"):
            wait_for_locks(
                time.monotonic() + 1, lambda e, lv, f: seen.append(f), (), [str(pid_file)]
            )
        assert seen and seen[0]["pid"] == holder.pid and "ready" in str(seen[0]["command"])
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    wait_for_locks(time.monotonic() + 1, lambda e, lv, f: None, (), [str(pid_file)])  # stale


def test_fcntl_lock_is_waited_for_until_released(tmp_path: Path) -> None:
    lock = tmp_path / ".rpm.lock"
    lock.touch()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        seen: List[Dict[str, object]] = []
        with pytest.raises(LockTimeout):
            wait_for_locks(time.monotonic() + 1, lambda e, lv, f: seen.append(f), [str(lock)])
        assert seen[0]["lock"] == str(lock) and seen[0]["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    wait_for_locks(time.monotonic() + 1, lambda e, lv, f: None, [str(lock)])
