"""The pid file of a running connector, and the check that a pid is still that connector.

`patchpilot cancel` signals the connector of a run. A connector killed with SIGKILL leaves its
pid file behind, and the pid may since belong to another process (pids are recycled): so the
file holds the pid and the process's start time (field 22 of /proc/PID/stat, clock ticks
since boot), and a pid is signalled only while both still match.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["live_pid", "write_pid_file"]


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # after "(comm)": field 22 is the 20th


def write_pid_file(path: Path) -> None:
    """Write this process's pid and start time to path (0600)."""
    pid = os.getpid()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{pid} {_start_time(pid) or ''}".rstrip())


def live_pid(path: Path) -> int | None:
    """Return the pid in path if that process still runs and is the one that wrote it."""
    try:
        words = path.read_text().split()
        pid = int(words[0])
    except (OSError, ValueError, IndexError):
        return None
    started = _start_time(pid)
    if started is None or len(words) < 2 or words[1] != started:
        return None  # gone, recycled by another process, or a file without a start time
    return pid
