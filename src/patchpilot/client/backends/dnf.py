"""The dnf backend (dnf4: RHEL 8-10, Rocky, Alma, Fedora up to 40) through its command line.

Scan: `repoquery --upgrades` (tab-separated query format) for the candidates, `updateinfo
list`/`info` for their advisories (id, type, severity, CVEs), from the cache just refreshed;
the advisories' reboot_suggested flags, which dnf's CLI does not print, from the updateinfo
file in that cache.
Install: one `dnf upgrade` of the pinned NEVRAs, never prompting (`-y`, the C locale); see
rpmbase.py for how results are settled. Reboot: `dnf needs-restarting -r` (exit 1: the
packages it lists changed since boot), plus advisories flagged reboot_suggested.
"""

from typing import Dict, List, Sequence, Set, Tuple

from patchpilot.client.backends.base import RebootState, StaleReport, Update
from patchpilot.client.backends.dpkg import Command, run_command, run_tool
from patchpilot.client.backends.rpmbase import RpmBackend, installed_versions, make_update
from patchpilot.client.backends.rpmlocks import dnf_has_locks
from patchpilot.client.backends.rpmparse import (
    QUERY_FORMAT,
    AdvisoryInfo,
    parse_available,
    parse_check_update_names,
    parse_needs_restarting,
    parse_updateinfo_info,
    parse_updateinfo_list,
    split_nevra,
)
from patchpilot.client.backends.updateinfo import read_updateinfo

__all__ = ["DnfBackend", "pinned_specs"]

# dnf4's own locks: pid files naming the process that holds them.
DNF_PID_LOCKS = ("/var/lib/dnf/rpmdb_lock.pid", "/var/cache/dnf/metadata_lock.pid")
_OPTIONS = ("-y", "--setopt=exit_on_lock=True", "--setopt=install_weak_deps=False")


def pinned_specs(updates: Sequence[Update]) -> List[str]:
    """Return name-[epoch:]version-release specs: the exact versions the plan chose."""
    return ["%s-%s" % (u.id, u.candidate_version) for u in updates]


class DnfBackend(RpmBackend):
    name = "dnf"
    hold_note = "held back: dnf versionlock"
    caps_downloads = True  # --setopt=throttle (dnf5 too)
    cache_root = "/var/cache/dnf"  # <repo>-<hash>/repodata/ as downloaded
    pid_locks: Tuple[str, ...] = DNF_PID_LOCKS
    command = "dnf"

    def _dnf(self, *args: str, cached: bool = False) -> Command:
        argv = [self.command, *(["-C"] if cached else []), *_OPTIONS, *self.throttle(), *args]
        return run_command(argv)

    def throttle(self) -> List[str]:
        """Return dnf's download cap (`throttle`, bytes per second) for --download-limit."""
        return ["--setopt=throttle=%d" % self.download_limit] if self.download_limit else []

    def _refresh(self) -> Command:
        return self._dnf("-q", "makecache", "--refresh")

    def repair_argv(self, older: List[str]) -> List[str]:
        # dnf(8): "remove --duplicates" removes older versions of duplicate packages, what
        # its docs prescribe after an interrupted transaction.
        return ["dnf", "-y", "remove", "--duplicates"]

    def _list_updates(self) -> List[Update]:
        done = self._dnf(
            "-q", "repoquery", "--upgrades", "--latest-limit=1", "--qf", QUERY_FORMAT, cached=True
        )
        if done.returncode != 0:
            raise RuntimeError("dnf repoquery --upgrades failed: %s" % done.output[-1000:])
        candidates = parse_available(done.output)
        if not candidates:
            return []
        installed = installed_versions(sorted({c.name for c in candidates}))
        advisories = self.with_cached_details(self._advisories())
        locked = self._versionlocked({c.name for c in candidates})
        return [
            make_update(c, installed.get(c.name), advisories.get(c.nevra)).held_if(locked)
            for c in candidates
        ]

    def _versionlocked(self, names: Set[str]) -> Set[str]:
        """Return the names versionlock keeps at their version.

        repoquery ignores the plugin's locks (it does not resolve); check-update applies them,
        so a candidate it leaves out is locked. Asked only when the lock list names something.
        """
        if not dnf_has_locks():
            return set()
        done = self._dnf("-q", "check-update", cached=True)
        if done.returncode not in (0, 100):  # cannot tell: install decides, as without locks
            return set()
        return names - parse_check_update_names(done.output)

    def with_cached_details(self, advisories: Dict[str, AdvisoryInfo]) -> Dict[str, AdvisoryInfo]:
        """Add what dnf's CLI does not print, from the updateinfo in dnf's cache: the
        reboot_suggested flag and the issued date (--min-age)."""
        cached = read_updateinfo(self.cache_root)
        detailed = {}
        for nevra, info in advisories.items():
            name, evr, _ = split_nevra(nevra)
            known = cached.get((name, evr))
            if known is not None and known.id == info.id:
                info = info._replace(
                    reboot_suggested=info.reboot_suggested or known.reboot_suggested,
                    issued=info.issued or known.issued,
                )
            detailed[nevra] = info
        return detailed

    def _advisories(self) -> Dict[str, AdvisoryInfo]:
        """Return NEVRA -> the advisory that ships it (the most severe when several do)."""
        listed = parse_updateinfo_list(
            self._dnf("-q", "updateinfo", "list", "--updates", cached=True).output
        )
        if not listed:
            return {}
        details = parse_updateinfo_info(
            self._dnf("-q", "updateinfo", "info", "--updates", cached=True).output
        )
        found: Dict[str, AdvisoryInfo] = {}
        for nevra, entries in listed.items():
            infos = [
                details.get(ident) or AdvisoryInfo(ident, _kind(label), _severity(label))
                for ident, label in entries
            ]
            found[nevra] = min(infos, key=_rank)
        return found

    def _transaction(self, updates: Sequence[Update], download_only: bool) -> Command:
        extra = ["--downloadonly"] if download_only else []
        return self._dnf("upgrade", *extra, *pinned_specs(updates))

    services_args: Tuple[str, ...] = ("needs-restarting", "-s")

    def stale(self) -> StaleReport:
        done = run_tool([self.command, "-q", *self.services_args])
        if done is None or done.returncode != 0:
            return StaleReport()
        return StaleReport(
            _unit_names(done.output), tool=" ".join((self.command, *self.services_args))
        )

    def reboot_state(self) -> RebootState:
        done = run_command([self.command, "-q", "needs-restarting", "-r"])
        packages = parse_needs_restarting(done.returncode, done.output)
        reasons = self.reboot_reasons()
        if packages:
            reasons.append("dnf needs-restarting -r: updated since boot: %s" % ", ".join(packages))
        required = bool(reasons)
        if packages is None:  # said, but no reboot on a tool's failure alone
            reasons.append(
                "dnf needs-restarting -r failed (exit %d): %s"
                % (done.returncode, done.output.strip()[-300:])
            )
        return RebootState(required, reasons)


_ORDER = ("Critical", "Important", "Moderate", "Low", "")


def _rank(info: AdvisoryInfo) -> int:
    security = 0 if info.kind == "security" else 1
    return security * 10 + _ORDER.index(info.severity if info.severity in _ORDER else "")


def _kind(label: str) -> str:
    return "security" if label.endswith("/Sec.") else label


def _severity(label: str) -> str:
    return label.split("/", 1)[0] if label.endswith("/Sec.") else ""


def _unit_names(text: str) -> List[str]:
    """Return the systemd unit names a services listing printed, one a line."""
    names = (line.strip() for line in text.splitlines())
    return sorted({n for n in names if n and " " not in n and "." in n})
