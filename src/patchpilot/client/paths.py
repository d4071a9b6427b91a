"""Where the client keeps its files on the target (docs/protocol.md, "Files on the target").

PATCHPILOT_ROOT (tests only) moves /var/lib/patchpilot and /run/patchpilot under one folder.
On Windows both live under %ProgramData%\\patchpilot, which the connector's first write makes
SYSTEM and Administrators only.
"""

import os
from typing import NamedTuple

from patchpilot.client import platforms

__all__ = ["ROOT_ENV", "RoundPaths", "lock_path", "round_paths", "runtime_dir", "state_dir"]

ROOT_ENV = "PATCHPILOT_ROOT"


def _root() -> str:
    return os.environ.get(ROOT_ENV, "")


def state_dir() -> str:
    return platforms.state_dir(_root())


def runtime_dir() -> str:
    return platforms.runtime_dir(_root())


def lock_path() -> str:
    return os.path.join(state_dir(), "target.lock")


class RoundPaths(NamedTuple):
    folder: str

    @property
    def job(self) -> str:
        return os.path.join(self.folder, "job.json")

    @property
    def journal(self) -> str:
        return os.path.join(self.folder, "journal.jsonl")

    @property
    def state(self) -> str:
        return os.path.join(self.folder, "state.json")

    @property
    def endpoint(self) -> str:
        return os.path.join(self.folder, "endpoint.sock")


def round_paths(run_id: str, round_no: int) -> RoundPaths:
    """Return the files of one round of one run (the run id is validated by the caller)."""
    return RoundPaths(os.path.join(state_dir(), "runs", run_id, "round-%d" % round_no))
