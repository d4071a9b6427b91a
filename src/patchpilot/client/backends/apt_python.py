"""The apt backend through python-apt, used when the target has it.

python-apt lives in Debian's /usr/lib/python3/dist-packages, which `python3 -I -S` leaves off
sys.path; `load_python_apt` looks there too. Lock waiting, dpkg repair, result settling and
per-package retries are the command-line backend's (AptBackend); only the three apt calls
(refresh, list, commit) go through python-apt.
"""

import importlib
import os
import sys
import types
from typing import Any, Dict, List, Optional, Sequence, Tuple

from patchpilot.client.backends.apt import AptBackend, Errors, dl_limits
from patchpilot.client.backends.aptprogress import ProgressReporter
from patchpilot.client.backends.base import Emit, Update
from patchpilot.client.backends.dpkg import APT_ENV, DPKG_OPTIONS, held_packages

__all__ = ["AptPythonBackend", "load_python_apt"]

DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def load_python_apt() -> Optional[types.ModuleType]:
    """Return the `apt` module, or None when python-apt is not installed for this python3."""
    try:
        return importlib.import_module("apt")
    except ImportError:
        pass
    if not os.path.isdir(os.path.join(DEBIAN_DIST_PACKAGES, "apt")):
        return None
    sys.path.append(DEBIAN_DIST_PACKAGES)
    try:
        return importlib.import_module("apt")
    except ImportError:
        return None
    finally:
        sys.path.remove(DEBIAN_DIST_PACKAGES)


def _origin_text(version: Any) -> Tuple[str, bool]:
    names = []
    is_security = False
    for origin in version.origins:
        names.append("%s:%s/%s" % (origin.label or origin.origin, origin.codename, origin.archive))
        if origin.label == "Debian-Security" or str(origin.archive).endswith("-security"):
            is_security = True
    return ", ".join(names), is_security


class AptPythonBackend(AptBackend):
    """apt through python-apt's Cache; everything else as AptBackend."""

    name = "apt-python"

    def __init__(
        self, apt_module: types.ModuleType, lock_timeout: float = 600.0, refresh: bool = True
    ) -> None:
        super().__init__(lock_timeout, refresh)
        self._apt = apt_module
        os.environ.update(APT_ENV)
        apt_pkg = importlib.import_module("apt_pkg")
        for option in DPKG_OPTIONS:
            apt_pkg.config.set("DPkg::Options::", option)

    def limit_downloads(self, bytes_per_second: Optional[int]) -> None:
        super().limit_downloads(bytes_per_second)
        apt_pkg = importlib.import_module("apt_pkg")
        for name, value in dl_limits(bytes_per_second):
            apt_pkg.config.set(name, value)

    def _refresh(self, emit: Emit) -> bool:
        cache = self._apt.Cache()
        try:
            cache.update()
        except Exception as exc:  # python-apt raises several unrelated types here
            emit("apt.update", "warning", {"error": str(exc)})
            return False
        emit("apt.update", "info", {"exit_status": 0})
        return True

    def _list_upgrades(self) -> List[Update]:
        cache = self._apt.Cache()
        held = held_packages()
        updates = []
        for package in cache:
            if not (package.is_installed and package.is_upgradable):
                continue
            candidate = package.candidate
            origin, is_security = _origin_text(candidate)
            updates.append(
                Update(
                    id=package.shortname,
                    title=candidate.summary or "",
                    installed_version=package.installed.version,
                    candidate_version=candidate.version,
                    origin=origin,
                    is_security=is_security,
                    size=int(candidate.size or 0),
                    categories=("package", "held") if package.shortname in held else ("package",),
                )
            )
        return sorted(updates, key=lambda u: u.id)

    def _commit(self, updates: Sequence[Update], emit: Emit) -> Tuple[Errors, str]:
        cache = self._apt.Cache()
        errors: Dict[str, str] = {}
        reporter = ProgressReporter(emit, len(updates), sum(u.size for u in updates))
        progress = _install_progress(errors, reporter)
        for update in updates:
            package = cache[update.id]
            version = package.versions.get(update.candidate_version)
            if version is None:
                errors[update.id] = "version %s is not available" % update.candidate_version
                continue
            package.candidate = version
            package.mark_install(auto_fix=True, from_user=False)
        try:
            cache.commit(fetch_progress=_fetch_progress(reporter), install_progress=progress)
            tail = ""
        except Exception as exc:  # SystemError, apt.cache.LockFailedException, FetchFailed...
            tail = str(exc)
        reporter.finish()
        emit(
            "apt.install",
            "info" if not (tail or errors) else "warning",
            {"ids": [u.id for u in updates], "error": tail, "dpkg_errors": errors},
        )
        return errors, tail


def _install_progress(errors: Dict[str, str], reporter: ProgressReporter) -> Any:
    """Return a python-apt InstallProgress that keeps dpkg's message per failing package
    and reports progress as apt's status pipe would (pmstatus lines)."""
    base = importlib.import_module("apt.progress.base").InstallProgress

    class Collect(base):  # type: ignore[misc,valid-type]
        def error(self, pkg: str, errormsg: str) -> None:
            errors[os.path.basename(pkg).split("_")[0].split(":")[0]] = errormsg.strip()

        def status_change(self, pkg: str, percent: float, status: str) -> None:
            reporter.feed("pmstatus:%s:%s:%s" % (pkg, percent, status))

    return Collect()


def _fetch_progress(reporter: ProgressReporter) -> Any:
    """Return a python-apt AcquireProgress reporting the download's bytes (dlstatus lines)."""
    base = importlib.import_module("apt.progress.base").AcquireProgress

    class Report(base):  # type: ignore[misc,valid-type]
        def pulse(self, owner: Any) -> bool:
            total = float(self.total_bytes or 0)
            percent = 100.0 * float(self.current_bytes or 0) / total if total else 0.0
            reporter.feed("dlstatus:%d:%s:" % (self.current_items, percent))
            return True

        def stop(self) -> None:
            reporter.feed("dlstatus:%d:100:" % self.total_items)

    return Report()
