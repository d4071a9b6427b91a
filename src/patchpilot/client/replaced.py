"""Which processes still run replaced files, read from /proc (no tool needed).

Standard library only, Python 3.6+. A package upgrade writes each file anew and renames it
over the old one: a process that mapped the old library (or runs the old executable) keeps
the old inode, which /proc/PID/maps and /proc/PID/exe then show as "(deleted)". As
needrestart does, only executable mappings count (a library's code; a deleted data file
such as a locale archive does not make a daemon run old code) and temporary or special
paths are left out. Each process is named by the systemd unit it runs in (its cgroup):
a `.service` can be restarted; PID 1 (`init.scope`) needs a reboot; a login's `.scope` is
reported, never touched. The parsing is pure; `scan` reads /proc.
"""

import os
from typing import Dict, List, NamedTuple, Optional, Tuple

__all__ = ["StaleProcess", "deleted_paths", "own_unit", "scan", "unit_of"]

DELETED = " (deleted)"
# temporary or special mappings that are not a package's files (needrestart's blacklist)
_SKIPPED = ("/tmp/", "/var/tmp/", "/run/", "/var/run/", "/dev/", "/memfd:", "/SYSV", "/[", "/drm")
PID1_UNIT = "init.scope"


class StaleProcess(NamedTuple):
    pid: int
    unit: str  # "ssh.service", "init.scope", "session-4.scope"; "" when not in a unit
    path: str  # one replaced file it runs (the executable, else a mapped library)


def deleted_paths(maps: str) -> List[str]:
    """Return the replaced files a /proc/PID/maps text maps executable, in order, once each."""
    found: List[str] = []
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or "x" not in fields[1] or fields[4] == "0":
            continue
        path = fields[5]
        if not path.endswith(DELETED):
            continue
        path = path[: -len(DELETED)]
        if path.startswith("/") and not path.startswith(_SKIPPED) and path not in found:
            found.append(path)
    return found


def unit_of(cgroup: str) -> str:
    """Return the systemd unit a /proc/PID/cgroup text places the process in, or "".

    The system-level unit is the first `.service` or `.scope` of the systemd hierarchy's
    path (cgroup v2's `0::` line, v1's `name=systemd`): a user's own services under
    `user@UID.service` belong to that user manager.
    """
    paths: Dict[str, str] = {}
    for line in cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2]
    path = paths.get("name=systemd") or paths.get("") or ""
    for part in path.split("/"):
        if part.endswith((".service", ".scope")):
            return part
    return ""


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:  # the process ended, or a kernel thread
        return None


def _stale_file(pid_dir: str) -> Optional[str]:
    """Return a replaced file the process runs, or None."""
    try:
        exe = os.readlink(os.path.join(pid_dir, "exe"))
    except OSError:
        return None  # a kernel thread, or gone
    if exe.endswith(DELETED):
        return exe[: -len(DELETED)]
    maps = _read(os.path.join(pid_dir, "maps"))
    paths = deleted_paths(maps) if maps else []
    return paths[0] if paths else None


def scan(proc: str = "/proc", skip: Tuple[int, ...] = ()) -> List[StaleProcess]:
    """Return every process (but those in skip) that runs a replaced file, by pid; none
    where there is no /proc."""
    found = []
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    for name in names:
        if not name.isdigit() or int(name) in skip:
            continue
        pid_dir = os.path.join(proc, name)
        path = _stale_file(pid_dir)
        if path is None:
            continue
        unit = unit_of(_read(os.path.join(pid_dir, "cgroup")) or "")
        found.append(StaleProcess(int(name), unit, path))
    return sorted(found)


def own_unit(proc: str = "/proc") -> str:
    """Return the unit this process runs in (the client's: never restarted under it)."""
    return unit_of(_read(os.path.join(proc, "self", "cgroup")) or "")
