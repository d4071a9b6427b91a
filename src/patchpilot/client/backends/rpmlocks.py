"""Packages an administrator locked on an RPM system: dnf versionlock, zypper locks.

Both tools leave a locked package out of their list of upgrades, so a round would neither
install it nor say it was left out. The backends read the locks themselves (the files both
tools keep; no extra tool call when there are none) and report such a package `held`, as
apt's holds are. Python 3.6+, standard library only; the parsing is pure.
"""

import configparser
import fnmatch
from typing import List, Optional, Sequence

__all__ = [
    "dnf_has_locks",
    "dnf_lock_list",
    "has_entries",
    "is_locked",
    "parse_zypp_locks",
    "read_text",
]

VERSIONLOCK_CONF = "/etc/dnf/plugins/versionlock.conf"
VERSIONLOCK_LIST = "/etc/dnf/plugins/versionlock.list"
ZYPP_LOCKS = "/etc/zypp/locks"


def read_text(path: str) -> Optional[str]:
    """Return a file's text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def dnf_lock_list(conf_text: Optional[str]) -> Optional[str]:
    """Return the versionlock list's path when the plugin is enabled, else None.

    conf_text is versionlock.conf's text (None: the plugin is not installed).
    """
    if conf_text is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(conf_text)
    except configparser.Error:
        return None
    if not parser.has_section("main"):
        return None
    if not parser.getboolean("main", "enabled", fallback=False):
        return None
    return parser.get("main", "locklist", fallback=VERSIONLOCK_LIST).strip() or None


def dnf_has_locks(conf_path: str = VERSIONLOCK_CONF) -> bool:
    """Say whether dnf's versionlock plugin is enabled and its list names anything."""
    path = dnf_lock_list(read_text(conf_path))
    return path is not None and has_entries(read_text(path))


def has_entries(list_text: Optional[str]) -> bool:
    """Say whether a versionlock list names anything (comments and blank lines aside)."""
    lines = (line.strip() for line in (list_text or "").splitlines())
    return any(line and not line.startswith("#") for line in lines)


def parse_zypp_locks(text: str) -> List[str]:
    """Return the name patterns of the package locks in /etc/zypp/locks (libzypp's format:
    blank-line separated blocks of `key: value`; a block without `type` locks packages)."""
    patterns = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, colon, value = line.partition(":")
            if colon and not line.lstrip().startswith("#"):
                fields[key.strip()] = value.strip()
        name = fields.get("solvable_name", "")
        if not name or fields.get("type", "package") != "package":
            continue
        if fields.get("match_type", "glob") not in ("glob", "exact"):
            continue  # regex and substring locks: not matched here
        patterns.append(name if fields.get("match_type", "glob") == "glob" else _exact(name))
    return patterns


def is_locked(name: str, patterns: Sequence[str]) -> bool:
    """Say whether a package name matches one of the lock patterns (globs)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _exact(name: str) -> str:
    """Return a glob that matches name only (its glob characters escaped)."""
    return "".join("[%s]" % c if c in "*?[" else c for c in name)
