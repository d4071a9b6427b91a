"""What the RPM-family backends (dnf4, dnf5, zypper) share: locks, rpm queries, settling.

Install strategy, as for apt: the selected set goes to the tool in one transaction, pinned to
the scanned NEVRAs; the truth is read back from the rpm database, not from the tool's exit
status. A package whose scriptlet failed is reported failed alone (rpm keeps the new version
installed: a %post failure is not fatal to the transaction); a package the tool left
untouched (the transaction aborted, say on a dependency problem) is retried alone.
"""

import abc
import functools
import time
from typing import Dict, List, Optional, Sequence, Set, Tuple

from patchpilot.client.backends.base import Backend, Emit, Update, UpdateResult
from patchpilot.client.backends.dpkg import Command, patiently, run_command, wait_for_locks
from patchpilot.client.backends.rpmparse import (
    RPM_QUERY_FORMAT,
    AdvisoryInfo,
    Available,
    parse_installed,
    parse_scriptlet_errors,
)
from patchpilot.client.backends.rpmversion import compare_evr

__all__ = ["RPM_LOCKS", "RpmBackend", "installed_versions", "make_update", "older_duplicates"]

# rpm's transaction lock (fcntl) where Fedora/RHEL and Debian's rpm keep their database.
INSTALL_ONLY = ("kernel", "gpg-pubkey", "installonlypkg")
_DUPLICATE_FORMAT = "%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{NVRA}\\n"
RPM_LOCKS = ("/var/lib/rpm/.rpm.lock", "/usr/lib/sysimage/rpm/.rpm.lock")


def installed_versions(names: Sequence[str]) -> Dict[str, str]:
    """Return name -> installed epoch:version-release for each named package rpm knows."""
    if not names:
        return {}
    done = run_command(["rpm", "-q", "--qf", RPM_QUERY_FORMAT, *names])
    return parse_installed(done.output)


def older_duplicates() -> List[str]:
    """Return the NEVRAs of older versions of packages rpm holds twice (install-only
    packages such as kernels excepted: several of them is their normal state)."""
    done = run_command(["rpm", "-qa", "--qf", _DUPLICATE_FORMAT])
    by_name = {}  # type: Dict[str, List[Tuple[str, str]]]
    for line in done.output.splitlines():
        parts = line.split()
        if len(parts) == 3 and not parts[0].startswith(INSTALL_ONLY):
            by_name.setdefault(parts[0], []).append((parts[1], parts[2]))
    older = []  # type: List[str]
    for versions in by_name.values():
        if len(versions) > 1:
            ranked = sorted(versions, key=functools.cmp_to_key(_compare_first))
            older += [nevra for _, nevra in ranked[:-1]]
    return sorted(older)


def _compare_first(left: Tuple[str, str], right: Tuple[str, str]) -> int:
    return compare_evr(left[0], right[0])


def make_update(
    candidate: Available,
    installed: Optional[str],
    advisory: Optional[AdvisoryInfo],
) -> Update:
    """Return the Update for a candidate, with its advisory's id, severity and CVEs."""
    return Update(
        id=candidate.name,
        title=candidate.summary,
        installed_version=installed,
        candidate_version=candidate.evr,
        origin=candidate.repo,
        is_security=advisory is not None and advisory.kind == "security",
        size=candidate.size,
        categories=("package", advisory.kind) if advisory else ("package",),
        reboot_hint=advisory is not None and advisory.reboot_suggested,
        advisory=advisory.id if advisory else "",
        severity=advisory.severity if advisory else "",
        cves=advisory.cves if advisory else (),
        issued=advisory.issued if advisory else "",
    )


class RpmBackend(Backend):
    """The shared round logic; subclasses say how their tool lists, installs and reboots."""

    pid_locks: Tuple[str, ...] = ()
    has_advisories = True
    has_release_dates = True

    def __init__(self, lock_timeout: float = 600.0, refresh: bool = True) -> None:
        self._lock_timeout = lock_timeout
        self._refresh_lists = refresh
        self._reboot_suggested: Set[str] = set()  # installed this round, flagged by updateinfo

    def wait_for_locks(self, emit: Emit) -> None:
        deadline = time.monotonic() + self._lock_timeout
        wait_for_locks(deadline, emit, RPM_LOCKS, self.pid_locks)

    def prepare(self, emit: Emit) -> None:
        self.wait_for_locks(emit)
        self._repair(emit)

    def _repair(self, emit: Emit) -> None:
        """Settle a transaction a reset or a kill cut short: rpm then holds two versions of a
        package (the new one installed, the old one not yet erased)."""
        older = older_duplicates()
        if not older:
            return
        done = run_command(self.repair_argv(older))
        emit(
            "%s.repair" % self.name,
            "info" if done.returncode == 0 else "warning",
            {
                "duplicates": older,
                "command": " ".join(self.repair_argv(older)),
                "exit_status": done.returncode,
                "output": done.output[-2000:],
            },
        )

    def repair_argv(self, older: List[str]) -> List[str]:
        """Return the command that drops the older duplicates from rpm's database (what
        package-cleanup --cleandupes does; dnf has its own: DnfBackend)."""
        return ["rpm", "-e", "--justdb", "--nodeps", "--noscripts", "--notriggers", *older]

    def installed_versions(self, ids: List[str]) -> Dict[str, str]:
        return installed_versions(ids)

    def scan(self, emit: Emit) -> List[Update]:
        self.wait_for_locks(emit)
        if self._refresh_lists:
            patiently(lambda: self._refresh_once(emit))
        return self._list_updates()

    def _refresh_once(self, emit: Emit) -> bool:
        done = self._refresh()
        level = "info" if done.returncode == 0 else "warning"
        fields = {"exit_status": done.returncode, "output": self.said(done.output)[-2000:]}
        emit("%s.refresh" % self.name, level, fields)
        return done.returncode == 0

    @abc.abstractmethod
    def _refresh(self) -> Command:
        """Refresh the repositories' metadata."""

    @abc.abstractmethod
    def _list_updates(self) -> List[Update]:
        """Return every applicable update with its advisory details."""

    @abc.abstractmethod
    def _transaction(self, updates: Sequence[Update], download_only: bool) -> Command:
        """Run one transaction upgrading updates to their candidate versions."""

    def download(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        results = []
        for update in updates:
            done = self._transaction([update], True)
            ok = done.returncode == 0
            message = "" if ok else _last_lines(done.output)
            results.append(
                UpdateResult(
                    update.id, "downloaded" if ok else "failed", update.candidate_version, message
                )
            )
        return results

    def install(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        if not updates:
            return []
        self.wait_for_locks(emit)
        batch = self._commit(updates, emit)
        results: Dict[str, UpdateResult] = {}
        for update in updates:
            result = batch[update.id]
            if result is None:
                why = "%s did not change it in the batch" % self.name
                emit("update.retry", "info", {"id": update.id, "why": why})
                result = self._commit([update], emit)[update.id] or UpdateResult(
                    update.id, "failed", update.installed_version, "%s left it alone" % self.name
                )
            results[update.id] = result
            if update.reboot_hint and result.status == "installed":
                self._reboot_suggested.add(update.id)
        return [results[u.id] for u in updates]

    def _commit(self, updates: Sequence[Update], emit: Emit) -> Dict[str, Optional[UpdateResult]]:
        done = self._transaction(updates, False)
        emit(
            "%s.install" % self.name,
            "info" if done.returncode == 0 else "warning",
            {
                "ids": [u.id for u in updates],
                "exit_status": done.returncode,
                "output": self.said(done.output)[-4000:],
            },
        )
        errors = parse_scriptlet_errors(done.output)
        versions = installed_versions([u.id for u in updates])
        return {u.id: settle(u, versions.get(u.id), errors, done) for u in updates}

    def said(self, output: str) -> str:
        """Return what the tool said, for the journal (zypper: its messages, not its XML)."""
        return output

    def exceeds_plan(self, candidate: str, planned: str) -> bool:
        return compare_evr(candidate, planned) > 0

    def inventory(self) -> Optional[Dict[str, str]]:
        done = run_command(["rpm", "-qa", "--qf", RPM_QUERY_FORMAT])
        return parse_installed(done.output) if done.returncode == 0 else None

    def reboot_reasons(self) -> List[str]:
        """Return the reasons from updateinfo: advisories installed with reboot_suggested."""
        return [
            "updateinfo: reboot suggested by the advisory of %s" % name
            for name in sorted(self._reboot_suggested)
        ]


def settle(
    update: Update, version: Optional[str], errors: Dict[str, str], done: Command
) -> Optional[UpdateResult]:
    """Return the result of update from the rpm database, or None when the tool left it alone."""
    target = update.candidate_version
    if version is not None and compare_evr(version, target) == 0:
        if update.id in errors:
            return UpdateResult(update.id, "failed", version, errors[update.id], "scriptlet-failed")
        return UpdateResult(update.id, "installed", target)
    if update.id in errors:
        return UpdateResult(update.id, "failed", version, errors[update.id], "scriptlet-failed")
    if version is None:
        return UpdateResult(update.id, "failed", None, "rpm does not know the package", None)
    if done.returncode == 0:  # the transaction succeeded without it: something replaced it
        return UpdateResult(
            update.id, "failed", version, "still at %s after the transaction" % version, None
        )
    return None


def _last_lines(output: str, count: int = 3) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return " | ".join(lines[-count:])
