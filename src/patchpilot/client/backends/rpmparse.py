"""Parsing what rpm and dnf print (query formats, updateinfo, scriptlet errors). Pure functions.

Every dnf/rpm call the backends make asks for a tab-separated query format where the tool has
one; the rest (dnf4's `updateinfo list/info`, its transaction messages) is parsed from the C
locale's text, with golden cases in tests/unit.
"""

import re
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

__all__ = [
    "QUERY_FORMAT",
    "RPM_QUERY_FORMAT",
    "AdvisoryInfo",
    "Available",
    "evr_of",
    "parse_available",
    "parse_check_update_names",
    "parse_installed",
    "parse_needs_restarting",
    "parse_scriptlet_errors",
    "parse_updateinfo_info",
    "parse_updateinfo_list",
    "split_nevra",
]

# dnf repoquery --qf: name, epoch, version, release, arch, repo, download size, summary.
QUERY_FORMAT = (
    "%{name}\t%{epoch}\t%{version}\t%{release}\t%{arch}\t%{repoid}\t%{downloadsize}\t%{summary}\n"
)
# rpm -q --qf: name, epoch (none: "(none)"), version, release, arch.
RPM_QUERY_FORMAT = "%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"
# dnf4 names the package; rpm's own warning (zypper, dnf5) names its NEVRA.
_SCRIPTLET_RE = re.compile(
    r"(?:Error in|Non-fatal) (\w+) scriptlet (?:failure )?in rpm package (\S+)"
)
_RPM_SCRIPTLET_RE = re.compile(r"%(\w+)\((\S+)\) scriptlet failed[^\n]*")
_SEVERITIES = ("Critical", "Important", "Moderate", "Low")


class Available(NamedTuple):
    """One package version a repository offers (an upgrade candidate)."""

    name: str
    evr: str
    arch: str
    repo: str
    size: int
    summary: str

    @property
    def nevra(self) -> str:
        return "%s-%s.%s" % (self.name, self.evr, self.arch)


class AdvisoryInfo(NamedTuple):
    """What updateinfo says about one advisory."""

    id: str
    kind: str  # security | bugfix | enhancement | newpackage | unknown
    severity: str = ""
    cves: Tuple[str, ...] = ()
    reboot_suggested: bool = False
    issued: str = ""  # "YYYY-MM-DD HH:MM:SS" (UTC) from updateinfo, "" when not known


def evr_of(epoch: str, version: str, release: str) -> str:
    """Return epoch:version-release, leaving out an epoch of 0 or none (as dnf prints)."""
    head = "" if epoch in ("", "0", "(none)") else epoch + ":"
    return "%s%s-%s" % (head, version, release)


def split_nevra(nevra: str) -> Tuple[str, str, str]:
    """Split name-[epoch:]version-release.arch into (name, evr, arch)."""
    body, _, arch = nevra.rpartition(".")
    name_version, _, release = body.rpartition("-")
    name, _, version = name_version.rpartition("-")
    return name, "%s-%s" % (version, release), arch


def parse_available(text: str) -> List[Available]:
    """Parse repoquery lines in QUERY_FORMAT (other lines, such as warnings, are skipped)."""
    found = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 8:
            continue
        name, epoch, version, release, arch, repo, size, summary = fields
        found.append(
            Available(
                name,
                evr_of(epoch, version, release),
                arch,
                repo,
                int(size) if size.isdigit() else 0,
                summary,
            )
        )
    return found


def parse_check_update_names(text: str) -> Set[str]:
    """Parse `dnf check-update`: the names of the packages it lists as upgrades (`name.arch
    evr repo` lines; its "Obsoleting Packages" section is not upgrades)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("Obsoleting"):
            break
        words = line.split()
        if len(words) == 3 and "." in words[0]:
            names.add(words[0].rsplit(".", 1)[0])
    return names


def parse_installed(text: str) -> Dict[str, str]:
    """Parse `rpm -q --qf RPM_QUERY_FORMAT` output: name -> newest installed evr."""
    from patchpilot.client.backends.rpmversion import compare_evr

    installed: Dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 5:
            continue  # "package x is not installed"
        name, epoch, version, release, _arch = fields
        evr = evr_of(epoch, version, release)
        if name not in installed or compare_evr(evr, installed[name]) > 0:
            installed[name] = evr
    return installed


def parse_updateinfo_list(text: str) -> Dict[str, List[Tuple[str, str]]]:
    """Parse `dnf updateinfo list` lines (id, type or "Severity/Sec.", NEVRA).

    Return nevra -> [(id, label)].
    """
    found: Dict[str, List[Tuple[str, str]]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) != 3 or words[0] == "i":
            continue
        ident, label, nevra = words
        found.setdefault(nevra, []).append((ident, label))
    return found


def parse_updateinfo_info(text: str) -> Dict[str, AdvisoryInfo]:
    """Parse `dnf updateinfo info` blocks: id -> AdvisoryInfo (type, severity, CVEs)."""
    advisories: Dict[str, AdvisoryInfo] = {}
    for block in re.split(r"^={20,}\n.*\n={20,}$", text, flags=re.M):
        fields: Dict[str, List[str]] = {}
        key = ""
        for line in block.splitlines():
            label, colon, value = line.partition(": ")
            if not colon:
                continue
            key = label.strip() or key  # a continuation line has an empty label
            fields.setdefault(key, []).append(value.strip())
        ident = (fields.get("Update ID") or [""])[0]
        if ident:
            severity = (fields.get("Severity") or [""])[0]
            advisories[ident] = AdvisoryInfo(
                ident,
                (fields.get("Type") or ["unknown"])[0],
                severity if severity in _SEVERITIES else "",
                tuple(sorted(fields.get("CVEs", []))),
            )
    return advisories


def parse_scriptlet_errors(text: str) -> Dict[str, str]:
    """Return package name -> message for each scriptlet rpm reported failing."""
    errors: Dict[str, str] = {}
    for match in _RPM_SCRIPTLET_RE.finditer(text):
        errors[split_nevra(match.group(2))[0] or match.group(2)] = match.group(0)
    for match in _SCRIPTLET_RE.finditer(text):
        errors.setdefault(match.group(2), match.group(0))
    return errors


def parse_needs_restarting(exit_status: int, text: str) -> Optional[List[str]]:
    """Return the packages `needs-restarting -r` names (exit 1), [] when none, None on error."""
    if exit_status == 0:
        return []
    if exit_status != 1:
        return None
    return [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("* ")]
