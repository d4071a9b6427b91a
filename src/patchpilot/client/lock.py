"""One client per target: the run lock (`lock`/`unlock` commands) and the running client's flock.

The run lock, /var/lib/patchpilot/target.lock, is a small JSON file naming the run that holds
the target across rounds and reboots; the connector claims and frees it. The client lock,
/run/patchpilot/client.lock, is an flock held while `run` works, freed by exit or reboot.
"""

import json
import os
import time
from typing import Any, Dict, Optional

from patchpilot.client.journal import format_ts
from patchpilot.client.paths import lock_path, runtime_dir
from patchpilot.client.platforms import lock_now

__all__ = ["ClientLock", "claim_run_lock", "read_run_lock", "release_run_lock"]


def read_run_lock() -> Optional[Dict[str, Any]]:
    """Return the holder of the run lock, or None when the target is free."""
    try:
        with open(lock_path(), encoding="utf-8") as handle:
            holder = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"run": None, "error": "unreadable lock file %s" % lock_path()}
    return holder if isinstance(holder, dict) else {"run": None}


def claim_run_lock(run_id: str) -> Optional[Dict[str, Any]]:
    """Claim the run lock for run_id; return None on success, else the other holder."""
    os.makedirs(os.path.dirname(lock_path()), mode=0o700, exist_ok=True)
    data = json.dumps({"run": run_id, "time": format_ts(time.time()), "pid": os.getpid()})
    try:
        fd = os.open(lock_path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        holder = read_run_lock()
        return None if holder is not None and holder.get("run") == run_id else holder
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)
    return None


def release_run_lock(run_id: str) -> bool:
    """Free the run lock if run_id holds it; say whether it was freed."""
    holder = read_run_lock()
    if holder is None or holder.get("run") != run_id:
        return False
    os.unlink(lock_path())
    return True


class ClientLock:
    """The flock of the running client; `acquire` says whether this process got it."""

    def __init__(self) -> None:
        self._fd: Optional[int] = None

    def acquire(self, run_id: str, round_no: int) -> bool:
        os.makedirs(runtime_dir(), mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(runtime_dir(), "client.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            lock_now(fd)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"run": run_id, "round": round_no, "pid": os.getpid()}).encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            with open(os.path.join(runtime_dir(), "client.lock"), encoding="utf-8") as handle:
                return handle.read()
        except OSError:
            return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
