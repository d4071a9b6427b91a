"""Progress of a round's long work, as the client journals it (`progress` records).

The client reports packages and bytes done of total at a bounded rate; the terminal view
shows the latest in its live table, and the job output keeps at most one such line per
`ProgressThrottle.every` (10 s) per server, so a long install cannot flood OpCon's output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from patchpilot.connector import Event, JournalRecord

__all__ = ["PROGRESS_EVENT", "Progress", "ProgressThrottle", "progress_of", "seconds_between"]

PROGRESS_EVENT = "progress"


def seconds_between(start: str, end: str) -> float | None:
    """Return the seconds from one ISO 8601 timestamp to another, None if either is unreadable."""
    try:
        begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
        return (datetime.fromisoformat(end.replace("Z", "+00:00")) - begin).total_seconds()
    except (AttributeError, ValueError):
        return None


@dataclass(frozen=True)
class Progress:
    """How far a round's download or install is: packages and bytes done of total."""

    stage: str
    packages_done: int
    packages_total: int
    bytes_done: int = 0
    bytes_total: int = 0

    def text(self) -> str:
        """Return e.g. `install 12/40 pkgs` or `download 3/40 pkgs 1.2/9.8 MB`."""
        line = f"{self.stage} {self.packages_done}/{self.packages_total} pkgs"
        if self.bytes_total:
            line += f" {self.bytes_done / 1e6:.1f}/{self.bytes_total / 1e6:.1f} MB"
        return line


def progress_of(event: Event) -> Progress | None:
    """Return the progress a journal record reports, None when it is not a progress record."""
    if not isinstance(event, JournalRecord) or event.record.get("event") != PROGRESS_EVENT:
        return None
    f = event.record.get("fields")
    if not isinstance(f, Mapping):  # a target's record may hold anything
        return None
    try:
        return Progress(
            str(f.get("stage", "install")),
            int(f.get("packages_done", 0)),
            int(f.get("packages_total", 0)),
            int(f.get("bytes_done", 0)),
            int(f.get("bytes_total", 0)),
        )
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass
class ProgressThrottle:
    """Let through at most one progress record per `every` seconds per server (job output)."""

    every: float = 10.0
    last: dict[str, str] = field(default_factory=dict)

    def allows(self, event: Event) -> bool:
        """Tell whether event may be printed: anything but progress, or progress not too soon."""
        if progress_of(event) is None:
            return True
        ts = str(event.record.get("ts", event.ts)) if isinstance(event, JournalRecord) else event.ts
        previous = self.last.get(event.target)
        since = seconds_between(previous, ts) if previous is not None else None
        if previous is not None and (since is None or since < self.every):
            return False
        self.last[event.target] = ts
        return True
