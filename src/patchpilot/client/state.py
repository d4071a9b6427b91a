"""state.json of a round: phase, result and exit status, written atomically (temp + rename).

The connector reads it when the log endpoint is gone (client exited, server rebooted).
"""

import json
import os
import tempfile
import time
from typing import Any, Dict, Optional

from patchpilot.client.journal import format_ts

__all__ = ["PHASES", "StateFile", "read_state", "write_atomic"]

PHASES = (
    "starting",
    "preparing",
    "scanning",
    "downloading",
    "installing",
    "restarting",
    "waiting-ack",
    "rebooting",
    "done",
    "failed",
)


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write data to path so that a reader sees the old file or the new one, never half."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        if hasattr(os, "fchmod"):  # Windows: the ProgramData ACL protects the folder
            os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    finally:
        if fd >= 0:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_state(path: str) -> Optional[Dict[str, Any]]:
    """Return the state in path, or None when there is none (yet)."""
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


class StateFile:
    """The state of one round; every change rewrites the file."""

    def __init__(self, path: str, run_id: str, round_no: int) -> None:
        self._path = path
        self._state: Dict[str, Any] = {
            "run": run_id,
            "round": round_no,
            "phase": "starting",
            "pid": os.getpid(),
            "updated": None,
            "result": None,
            "exit_status": None,
        }
        self._since = time.monotonic()
        self._write()

    def set(self, phase: str, **extra: Any) -> None:
        if phase not in PHASES:
            raise ValueError("unknown phase %r" % phase)
        if phase != self._state["phase"]:
            self._since = time.monotonic()
        self._state["phase"] = phase
        self._state.update(extra)
        self._write()

    @property
    def phase(self) -> str:
        return str(self._state["phase"])

    @property
    def since(self) -> float:
        """Return when (time.monotonic) the phase began."""
        return self._since

    def _write(self) -> None:
        self._state["updated"] = format_ts(time.time())
        data = json.dumps(self._state, indent=1, sort_keys=True).encode("utf-8")
        write_atomic(self._path, data)
