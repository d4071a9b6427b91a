"""The apt backend through the command line: apt-get, apt-cache and dpkg-query.

Install strategy: the selected set goes to apt in one call (one dependency resolution, one dpkg
run, triggers once); dpkg keeps configuring the other packages when one postinst fails, so
usually every package is settled by then. The truth is read back from dpkg-query, not from
apt's exit status; a package left untouched (apt aborted the batch, e.g. on a download or
dependency error) is retried alone, so one failing package fails alone.
"""

import os
import shutil
import time
from typing import Dict, List, Optional, Sequence, Tuple

from patchpilot.client.backends.aptparse import (
    PackageStatus,
    SimulatedUpgrade,
    is_security_release,
    parse_dpkg_errors,
    parse_show,
    parse_simulation,
)
from patchpilot.client.backends.aptprogress import ProgressReporter, run_with_status
from patchpilot.client.backends.base import (
    Backend,
    Emit,
    RebootState,
    StaleReport,
    Update,
    UpdateResult,
)
from patchpilot.client.backends.debversion import compare_versions
from patchpilot.client.backends.dpkg import (
    APT_ENV,
    DPKG_OPTIONS,
    TOOL_TIMEOUT,
    dpkg_inventory,
    dpkg_statuses,
    held_packages,
    patiently,
    reboot_state,
    repair_dpkg,
    run_command,
    run_tool,
    wait_for_locks,
)
from patchpilot.client.backends.needrestart import NEEDRESTART, parse_batch

__all__ = ["AptBackend", "settle"]

Errors = Dict[str, str]


def settle(
    update: Update,
    status: Optional[PackageStatus],
    errors: Errors,
) -> Optional[UpdateResult]:
    """Return the result of update from dpkg's state, or None when apt did not touch it."""
    target = update.candidate_version
    if update.id in errors:
        return UpdateResult(
            update.id, "failed", status.version if status else None, errors[update.id], "dpkg-error"
        )
    if status is None:
        return UpdateResult(update.id, "failed", None, "dpkg does not know the package", None)
    if status.version == target and status.is_configured:
        return UpdateResult(update.id, "installed", target)
    if not status.is_configured:
        return UpdateResult(
            update.id,
            "failed",
            status.version,
            "dpkg status %r after the install" % status.status.strip(),
            None,
        )
    return None


class AptBackend(Backend):
    """apt through apt-get/dpkg-query; AptPythonBackend overrides the three apt calls."""

    name = "apt-cli"
    hold_note = "held back: apt-mark hold"
    caps_downloads = True  # Acquire::http(s)::Dl-Limit

    def __init__(self, lock_timeout: float = 600.0, refresh: bool = True) -> None:
        self._lock_timeout = lock_timeout
        self._refresh_lists = refresh

    def _deadline(self) -> float:
        return time.monotonic() + self._lock_timeout

    def _apt_options(self) -> List[str]:
        options = ["-o", "DPkg::Lock::Timeout=%d" % max(1, int(self._lock_timeout))]
        for option in DPKG_OPTIONS:
            options += ["-o", "Dpkg::Options::=" + option]
        for name, value in dl_limits(self.download_limit):
            options += ["-o", "%s=%s" % (name, value)]
        return options

    def wait_for_locks(self, emit: Emit) -> None:
        wait_for_locks(self._deadline(), emit)

    def prepare(self, emit: Emit) -> None:
        self.wait_for_locks(emit)
        repair_dpkg(emit)

    def scan(self, emit: Emit) -> List[Update]:
        if self._refresh_lists:
            wait_for_locks(self._deadline(), emit)
            patiently(lambda: self._refresh(emit))
        return self._list_upgrades()

    def _refresh(self, emit: Emit) -> bool:
        """Refresh the package lists; return whether every source answered."""
        done = run_command(["apt-get", "update", "-q", *self._apt_options()])
        if done.returncode != 0:
            emit(
                "apt.update",
                "warning",
                {"exit_status": done.returncode, "output": done.output[-2000:]},
            )
            return False
        emit("apt.update", "info", {"exit_status": 0})
        return True

    def _simulate(self, args: Sequence[str]) -> List[SimulatedUpgrade]:
        done = run_command(["apt-get", "-s", "-q", *args, *self._apt_options()])
        if done.returncode != 0:
            raise RuntimeError("apt-get -s %s failed: %s" % (args[0], done.output[-1000:]))
        return parse_simulation(done.output)

    def _list_upgrades(self) -> List[Update]:
        upgrades = self._simulate(["dist-upgrade"])
        held = held_packages()
        if held:  # dist-upgrade leaves held packages out; list them too, to report them held
            listed = {u.name for u in upgrades}
            extra = ["install", "--only-upgrade", "--allow-change-held-packages", *sorted(held)]
            upgrades += [u for u in self._simulate(extra) if u.name in held - listed]
        if not upgrades:
            return []
        pinned = ["%s=%s" % (u.name, u.candidate) for u in upgrades]
        details = parse_show(
            run_command(["apt-cache", "show", "--no-all-versions", *pinned]).output
        )
        return [_update(u, details.get(u.name, (0, "")), u.name in held) for u in upgrades]

    def download(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        results = []
        for update in updates:
            done = self._apt_get(["install", "-d"], [update], emit)
            status = "downloaded" if done[1] == 0 else "failed"
            results.append(
                UpdateResult(
                    update.id,
                    status,
                    update.candidate_version,
                    "" if done[1] == 0 else _last_error(done[0]),
                )
            )
        return results

    def install(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        held = held_packages()
        results: Dict[str, Optional[UpdateResult]] = {
            u.id: UpdateResult(u.id, "held", None, "held back: apt-mark hold")
            for u in updates
            if u.id in held
        }
        results.update(self._install([u for u in updates if u.id not in held], emit))
        return [results[u.id] for u in updates if results[u.id] is not None]  # type: ignore[misc]

    def _install(self, updates: List[Update], emit: Emit) -> Dict[str, Optional[UpdateResult]]:
        """Install in one batch, then each package apt left untouched alone."""
        if not updates:
            return {}
        wait_for_locks(self._deadline(), emit)
        errors, tail = self._commit(updates, emit)
        results = self._settle_all(updates, errors)
        for update in [u for u in updates if results[u.id] is None]:
            emit(
                "update.retry",
                "info",
                {"id": update.id, "why": "apt did not change it in the batch: " + tail},
            )
            wait_for_locks(self._deadline(), emit)  # another process may hold it meanwhile
            errors, tail = self._commit([update], emit)
            results[update.id] = self._settle_all([update], errors)[update.id] or _untouched(
                update, tail
            )
        return results

    def _settle_all(
        self,
        updates: Sequence[Update],
        errors: Errors,
    ) -> Dict[str, Optional[UpdateResult]]:
        statuses = dpkg_statuses([u.id for u in updates])
        return {u.id: settle(u, statuses.get(u.id), errors) for u in updates}

    def _commit(self, updates: Sequence[Update], emit: Emit) -> Tuple[Errors, str]:
        """Install updates at their candidate versions; return dpkg's errors, apt's last error."""
        output, code = self._apt_get(["install", "--only-upgrade"], updates, emit)
        emit(
            "apt.install",
            "info" if code == 0 else "warning",
            {"ids": [u.id for u in updates], "exit_status": code, "output": output[-4000:]},
        )
        return parse_dpkg_errors(output), _last_error(output)

    def _apt_get(
        self, verb: List[str], updates: Sequence[Update], emit: Optional[Emit] = None
    ) -> Tuple[str, int]:
        """Run apt-get verb on updates; with emit, journal its progress (aptprogress)."""
        argv = [
            "apt-get",
            *verb,
            "-y",
            "-q",
            *self._apt_options(),
            *["%s=%s" % (u.id, u.candidate_version) for u in updates],
        ]
        if emit is not None:
            progress = ProgressReporter(emit, len(updates), sum(u.size for u in updates))
            env = dict(os.environ)
            env.update(APT_ENV)
            output, code = run_with_status(argv, env, progress.feed)
            progress.finish()
            return output, code
        done = run_command(argv)
        return done.output, done.returncode

    def reboot_state(self) -> RebootState:
        return reboot_state()

    def stale(self) -> StaleReport:
        """needrestart -b where it is installed (else the client reads /proc itself)."""
        done = run_tool(NEEDRESTART) if shutil.which(NEEDRESTART[0]) else None
        if done is None or done.returncode != 0:
            return StaleReport()
        found = parse_batch(done.output)
        return StaleReport(found.services, found.reasons, " ".join(NEEDRESTART), found.sessions)

    def install_restart_tool(self, emit: Emit) -> bool:
        """Install needrestart from the server's own repositories (--install-needrestart)."""
        if shutil.which(NEEDRESTART[0]):
            return True
        wait_for_locks(self._deadline(), emit)
        argv = ["apt-get", "install", "-y", "-q", *self._apt_options(), NEEDRESTART[0]]
        done = run_tool(argv, timeout=TOOL_TIMEOUT)
        status = done.returncode if done is not None else -1
        said = done.output[-2000:] if done is not None else "no answer in %d s" % TOOL_TIMEOUT
        level = "info" if status == 0 else "warning"
        emit("needrestart.install", level, {"exit_status": status, "output": said})
        return status == 0

    def inventory(self) -> Optional[Dict[str, str]]:
        return dpkg_inventory()

    def installed_versions(self, ids: List[str]) -> Dict[str, str]:
        statuses = dpkg_statuses(ids)
        return {name: s.version for name, s in statuses.items() if s.is_configured}

    def exceeds_plan(self, candidate: str, planned: str) -> bool:
        return compare_versions(candidate, planned) > 0


def dl_limits(bytes_per_second: Optional[int]) -> List[Tuple[str, str]]:
    """Return apt's settings capping downloads: Acquire::http::Dl-Limit and its https twin,
    in KiB/s (apt's unit), for every apt-get and python-apt download."""
    if not bytes_per_second:
        return []
    kib = str(max(1, bytes_per_second // 1024))
    return [("Acquire::http::Dl-Limit", kib), ("Acquire::https::Dl-Limit", kib)]


def _update(upgrade: SimulatedUpgrade, detail: Tuple[int, str], is_held: bool) -> Update:
    return Update(
        id=upgrade.name,
        title=detail[1],
        installed_version=upgrade.installed,
        candidate_version=upgrade.candidate,
        origin=upgrade.releases,
        is_security=is_security_release(upgrade.releases),
        size=detail[0],
        categories=("package", "held") if is_held else ("package",),
    )


_DOWNLOAD_FAILURES = (
    "Failed to fetch",
    "Unable to fetch",
    "enough free space",
    "No space left on device",
)
# apt could not take dpkg's lock (another process took it between our wait and apt's call):
# the package was not kept back by apt's resolver, it failed (fault campaign, seed 20)
_LOCK_FAILURES = ("Could not get lock", "Unable to acquire the dpkg frontend lock")


def _untouched(update: Update, tail: str) -> UpdateResult:
    """A package apt left as it was, alone too: failed when its archive could not be fetched
    or stored (the repository unreachable, the disk full: issue 11), else held back by apt."""
    if any(sign in tail for sign in _DOWNLOAD_FAILURES):
        return UpdateResult(update.id, "failed", None, "download failed: " + tail)
    if any(sign in tail for sign in _LOCK_FAILURES):
        return UpdateResult(update.id, "failed", None, "dpkg's lock stayed held: " + tail)
    return UpdateResult(update.id, "held", None, "apt kept it back: " + tail)


def _last_error(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("E: ")]
    return errors[-1][3:] if errors else ""
