"""Kernel limits many containers need (inotify), raised while any lab runs, then restored.

Several labs may run at once, so the first lab to start records the original values and
every lab registers itself; the last one to leave writes the originals back. The bookkeeping
file sits under /run and is only touched under the machine-wide lab lock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patchpilot.lab.network import global_lock

__all__ = ["LIMITS", "acquire_limits", "release_limits"]

LIMITS = {
    "fs/inotify/max_user_instances": 8192,
    "fs/inotify/max_user_watches": 1048576,
}
STATE = Path("/run/patchpilot-lab/limits.json")
PROC_SYS = Path("/proc/sys")


def acquire_limits(user: str) -> None:
    """Raise the limits (never lower them) and register user as a lab that needs them."""
    with global_lock():
        state = _load()
        if not state["users"]:
            state["original"] = {key: _read(key) for key in LIMITS}
        for key, wanted in LIMITS.items():
            if _read(key) < wanted:
                _write(key, wanted)
        state["users"] = sorted({*state["users"], user})
        _save(state)


def release_limits(user: str) -> None:
    """Unregister user; when no lab is left, restore the original values."""
    with global_lock():
        state = _load()
        state["users"] = [other for other in state["users"] if other != user]
        if not state["users"]:
            for key, value in state.get("original", {}).items():
                _write(key, int(value))
            STATE.unlink(missing_ok=True)
            return
        _save(state)


def _read(key: str) -> int:
    return int((PROC_SYS / key).read_text().split()[0])


def _write(key: str, value: int) -> None:
    (PROC_SYS / key).write_text(f"{value}\n")


def _load() -> dict[str, Any]:
    try:
        data = json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {"users": [], "original": {}}
    return data if isinstance(data, dict) else {"users": [], "original": {}}


def _save(state: dict[str, Any]) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state))
