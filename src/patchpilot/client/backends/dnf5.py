"""The dnf5 backend (Fedora 41+, RHEL 11+): dnf's behaviour through dnf5's own CLI.

What differs from dnf4 (dnf.py), per dnf5's documentation: `check-upgrade` lists the
candidates (exit 100 when there are some, 0 when none); advisories come from `advisory list
--json --updates --with-cve` (advisory_name, advisory_type, advisory_severity, nevra,
references); reboot need from `needs-restarting` (a reboot check without `-r`; exit 1: a
reboot is needed). dnf5 is not packaged in Debian 12: this backend is tested against a
scripted fake of that CLI (tests/unit/client/backends/fake_dnf5.py), not the real tool.
"""

import json
from typing import Dict, List, Sequence

from patchpilot.client.backends.base import RebootState, Update
from patchpilot.client.backends.dnf import DnfBackend, pinned_specs
from patchpilot.client.backends.dpkg import Command, run_command
from patchpilot.client.backends.rpmbase import RpmBackend, installed_versions, make_update
from patchpilot.client.backends.rpmparse import (
    AdvisoryInfo,
    Available,
    parse_needs_restarting,
    split_nevra,
)

__all__ = ["Dnf5Backend", "parse_advisory_json", "parse_check_upgrade"]

EXIT_UPGRADES = 100  # check-upgrade: upgrades are available
_SEVERITIES = {
    "critical": "Critical",
    "important": "Important",
    "moderate": "Moderate",
    "low": "Low",
}


def parse_check_upgrade(text: str) -> List[Available]:
    """Parse `dnf5 check-upgrade` lines: name.arch, [epoch:]version-release, repository."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) != 3 or "." not in words[0] or "-" not in words[1]:
            continue
        name, _, arch = words[0].rpartition(".")
        found.append(Available(name, words[1], arch, words[2], 0, ""))
    return found


def parse_advisory_json(text: str) -> Dict[str, AdvisoryInfo]:
    """Parse `advisory list --json --with-cve` (extended format): nevra -> advisory."""
    try:
        rows = json.loads(text or "[]")
    except ValueError:
        return {}
    found: Dict[str, AdvisoryInfo] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not row.get("nevra"):
            continue
        name = str(row.get("advisory_name") or row.get("name") or "")
        kind = str(row.get("advisory_type") or row.get("type") or "unknown")
        severity = str(row.get("advisory_severity") or row.get("severity") or "")
        references = row.get("references") or []
        cves = tuple(
            sorted(
                str(r.get("reference_id"))
                for r in references
                if isinstance(r, dict) and r.get("reference_type") == "cve"
            )
        )
        nevra = _drop_zero_epoch(str(row["nevra"]))
        known = found.get(nevra)
        cves = tuple(sorted(set(cves) | set(known.cves))) if known and known.id == name else cves
        found[nevra] = AdvisoryInfo(name, kind, _SEVERITIES.get(severity.lower(), ""), cves)
    return found


def _drop_zero_epoch(nevra: str) -> str:
    name, evr, arch = split_nevra(nevra)
    return "%s-%s.%s" % (name, evr[2:] if evr.startswith("0:") else evr, arch)


class Dnf5Backend(DnfBackend):
    name = "dnf5"
    cache_root = "/var/cache/libdnf5"
    command = "dnf5"
    pid_locks = ()

    services_args = ("needs-restarting", "--services")

    def repair_argv(self, older: List[str]) -> List[str]:
        return RpmBackend.repair_argv(self, older)  # dnf5 has no remove --duplicates

    def _dnf(self, *args: str, cached: bool = False) -> Command:
        argv = [self.command, *(["-C"] if cached else []), "-y", *self.throttle(), *args]
        return run_command(argv)

    def _list_updates(self) -> List[Update]:
        done = self._dnf("-q", "check-upgrade", cached=True)
        if done.returncode not in (0, EXIT_UPGRADES):
            raise RuntimeError("dnf5 check-upgrade failed: %s" % done.output[-1000:])
        candidates = parse_check_upgrade(done.output)
        if not candidates:
            return []
        installed = installed_versions(sorted({c.name for c in candidates}))
        listed = self._dnf(
            "-q", "advisory", "list", "--json", "--updates", "--with-cve", cached=True
        )
        advisories = parse_advisory_json(listed.output) if listed.returncode == 0 else {}
        advisories = self.with_cached_details(advisories)
        return [make_update(c, installed.get(c.name), advisories.get(c.nevra)) for c in candidates]

    def _transaction(self, updates: Sequence[Update], download_only: bool) -> Command:
        extra = ["--downloadonly"] if download_only else []
        return self._dnf("upgrade", *extra, *pinned_specs(updates))

    def reboot_state(self) -> RebootState:
        done = run_command([self.command, "-q", "needs-restarting"])
        packages = parse_needs_restarting(done.returncode, done.output)
        reasons = self.reboot_reasons()
        if packages:
            reasons.append("dnf5 needs-restarting: updated since boot: %s" % ", ".join(packages))
        required = bool(reasons)
        if packages is None:
            reasons.append("dnf5 needs-restarting failed (exit %d)" % done.returncode)
        return RebootState(required, reasons)
