"""Pausing a fleet: a file whose presence keeps the rollout from starting new servers.

`patchpilot pause FLEET_RUN_ID` creates it (and, given again, removes it); `patchpilot resume
FLEET_RUN_ID` removes it. A scheduler without a shell creates or deletes the same file
(`<state dir>/fleets/<fleet run id>.pause`). While it exists the servers in flight finish
and no other starts; the rollout looks again every second (rollout.py).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["pause_path", "set_paused"]


def pause_path(state_folder: Path, fleet_run_id: str) -> Path:
    """Return the pause file of a fleet run in a state store's folder."""
    return state_folder / "fleets" / f"{fleet_run_id}.pause"


def set_paused(state_folder: Path, fleet_run_id: str, paused: bool | None = None) -> bool:
    """Pause (True), resume (False) or toggle (None) a fleet run; return whether it is now
    paused."""
    path = pause_path(state_folder, fleet_run_id)
    wanted = not path.exists() if paused is None else paused
    if wanted:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
    else:
        path.unlink(missing_ok=True)
    return wanted
