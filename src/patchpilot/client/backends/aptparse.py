"""Pure parsers for what apt, dpkg and the kernel print: simulations, stanzas, errors, locks.

No I/O here; golden tests in tests/unit/client/golden/ pin each format.
"""

import re
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

from patchpilot.client.backends.debversion import compare_versions

__all__ = [
    "PackageStatus",
    "SimulatedUpgrade",
    "is_security_release",
    "kernel_reason",
    "parse_dpkg_errors",
    "parse_dpkg_status",
    "parse_proc_locks",
    "parse_show",
    "parse_simulation",
]

# Inst lab-base-a [1.0-1] (2.0-1 lab:1.0/stable [all])
_INST_RE = re.compile(r"^Inst (\S+) \[([^\]]+)\] \((\S+) ([^)]*)\)")
_DPKG_ERROR_RE = re.compile(r"^dpkg: error processing (?:package|archive) (\S+?)(?::\S+)? \(")


class SimulatedUpgrade(NamedTuple):
    name: str
    installed: str
    candidate: str
    releases: str  # "Label:Version/Archive [arch], ..."


class PackageStatus(NamedTuple):
    version: str
    status: str  # dpkg's db:Status-Abbrev, "ii " when installed and configured

    @property
    def is_configured(self) -> bool:
        return self.status.startswith("ii")


def parse_simulation(output: str) -> List[SimulatedUpgrade]:
    """Return the upgrades of installed packages in `apt-get -s dist-upgrade` output."""
    upgrades = []
    for line in output.splitlines():
        match = _INST_RE.match(line)
        if match:
            upgrades.append(SimulatedUpgrade(*match.groups()))
    return upgrades


def is_security_release(releases: str) -> bool:
    """Say whether a simulation's release list names Debian-Security or a *-security suite.

    apt prints each source as `Label:Version/Archive`, leaving out the parts its Release file
    lacks: `Label:Archive` without a Version (the lab's suites, many third-party ones; apt 2.2
    to 3.0 alike), only `Archive` without a Label.
    """
    for entry in releases.split(","):
        words = entry.strip().split(" ")[0]
        label, colon, rest = words.partition(":")
        archive = (rest if colon else label).rpartition("/")[2]
        if (colon and label == "Debian-Security") or archive.endswith("-security"):
            return True
    return False


def parse_show(output: str) -> Dict[str, Tuple[int, str]]:
    """Return name -> (size in bytes, summary) from `apt-cache show` stanzas."""
    result: Dict[str, Tuple[int, str]] = {}
    for stanza in output.split("\n\n"):
        fields = dict(_stanza_fields(stanza))
        name = fields.get("Package")
        if name and name not in result:
            size = fields.get("Size", "0")
            summary = fields.get("Description", fields.get("Description-en", ""))
            result[name] = (int(size) if size.isdigit() else 0, summary)
    return result


def _stanza_fields(stanza: str) -> Iterable[Tuple[str, str]]:
    for line in stanza.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            yield key, value.strip()


def parse_dpkg_status(output: str) -> Dict[str, PackageStatus]:
    """Return name -> status from dpkg-query lines "name<TAB>version<TAB>status-abbrev"."""
    result = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0]:
            result[parts[0].split(":")[0]] = PackageStatus(parts[1], parts[2])
    return result


def parse_dpkg_errors(output: str) -> Dict[str, str]:
    """Return package -> dpkg's message from "dpkg: error processing package X (...):" blocks."""
    errors: Dict[str, str] = {}
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = _DPKG_ERROR_RE.match(line)
        if match:
            detail = [d.strip() for d in lines[index + 1 : index + 3] if d.startswith(" ")]
            name = match.group(1)
            if "/" in name:  # an archive: /var/cache/apt/archives/NAME_VERSION_ARCH.deb
                name = name.rsplit("/", 1)[1].split("_", 1)[0]
            errors.setdefault(name, " ".join(detail) or line)
    return errors


def parse_proc_locks(text: str) -> Dict[int, int]:
    """Return inode -> pid of the POSIX and OFD locks in /proc/locks (pid -1 for OFD locks)."""
    holders: Dict[int, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if "->" in parts:  # a waiter, not a holder
            continue
        if len(parts) >= 6 and parts[1] in ("POSIX", "OFDLCK", "FLOCK"):
            device = parts[5].split(":")
            if len(device) == 3 and device[2].isdigit():
                holders.setdefault(int(device[2]), int(parts[4]))
    return holders


def kernel_reason(running: str, installed: Iterable[str]) -> Optional[str]:
    """Return why a reboot is needed when a newer kernel than the running one is installed.

    installed holds the release names of /boot/vmlinuz-*. When the running kernel is not among
    them (a container, a custom kernel) nothing can be judged and None is returned.
    """
    releases = list(installed)
    if running not in releases:
        return None
    newest = running
    for release in releases:
        if compare_versions(release, newest) > 0:
            newest = release
    if newest == running:
        return None
    return "kernel %s is installed, %s is running" % (newest, running)
