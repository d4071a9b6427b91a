"""The update-backend seam of the client: apt, dnf, the Windows Update Agent.

Standard library only, Python 3.9+. A backend lists applicable updates for a selection and
applies a chosen set, reporting one result per update. Everything OS-specific stays below
this line; the client's round logic above it is the same on every OS.
"""

import abc
from typing import Callable, Collection, Dict, List, NamedTuple, Optional, Sequence, Tuple

__all__ = [
    "Backend",
    "RebootState",
    "SelectionUnsupported",
    "StaleReport",
    "Update",
    "UpdateResult",
]

# A callback the backend uses to journal progress: event name, level, fields.
Emit = Callable[[str, str, Dict[str, object]], None]


class LockTimeout(RuntimeError):
    """The package manager's lock stayed held past the deadline."""


class Update(NamedTuple):
    """One applicable update (a package upgrade, or a Windows update)."""

    id: str  # package name, or "KB5031356"/UpdateID on Windows
    title: str
    installed_version: Optional[str]
    candidate_version: str
    origin: str = ""
    is_security: bool = False
    size: int = 0
    categories: Tuple[str, ...] = ()
    reboot_hint: bool = False
    # From the repository's updateinfo (dnf, zypper); empty where the OS has none (apt).
    advisory: str = ""
    severity: str = ""
    cves: Tuple[str, ...] = ()
    issued: str = ""  # the advisory's issued date, "YYYY-MM-DD HH:MM:SS" UTC (--min-age)

    def held_if(self, locked: Collection[str]) -> "Update":
        """Return this update marked "held" when its name is locked on the target (dnf
        versionlock, a zypper lock): reported, never installed."""
        if self.id not in locked:
            return self
        return self._replace(categories=(*self.categories, "held"))

    def to_dict(self) -> Dict[str, object]:
        advisory: Dict[str, object] = {}
        if self.advisory:
            advisory = {
                "advisory": self.advisory,
                "severity": self.severity,
                "cves": list(self.cves),
                "issued": self.issued,
            }
        return {
            "id": self.id,
            "title": self.title,
            "installed_version": self.installed_version,
            "candidate_version": self.candidate_version,
            "origin": self.origin,
            "is_security": self.is_security,
            "size": self.size,
            "categories": list(self.categories),
            "reboot_hint": self.reboot_hint,
            **advisory,
        }


class UpdateResult(NamedTuple):
    """The outcome for one update: installed, failed, skipped, held, downloaded."""

    id: str
    status: str  # "installed" | "failed" | "skipped" | "held" | "downloaded"
    version: Optional[str] = None
    message: str = ""
    code: Optional[str] = None  # e.g. WUA result code name / HRESULT

    def to_dict(self) -> Dict[str, object]:
        return {
            "id": self.id,
            "status": self.status,
            "version": self.version,
            "message": self.message,
            "code": self.code,
        }


class RebootState(NamedTuple):
    required: bool
    reasons: Sequence[str] = ()


class StaleReport(NamedTuple):
    """What the package manager's own tool says runs old code after an install."""

    services: Sequence[str] = ()  # systemd units it lists
    reasons: Sequence[str] = ()  # why only a reboot renews something (kernel, PID 1)
    tool: str = ""  # the command that said it; "" when the backend has none (or it failed)
    sessions: Sequence[str] = ()  # logins on old code: listed, never restarted


class SelectionUnsupported(RuntimeError):
    """The job selects by metadata this backend has not: advisories (severity, id, CVE) or
    release dates (--min-age)."""


class Backend(abc.ABC):
    name = "base"
    has_advisories = False  # updateinfo (severity, advisory id, CVEs) on each Update
    has_release_dates = False  # Update.issued where an advisory dates it (--min-age)
    hold_note = "held back on the target"  # why an update marked "held" is not installed
    download_limit = None  # type: Optional[int]  # bytes per second (--download-limit)
    caps_downloads = False  # the tool takes a rate setting the client passes it

    def limit_downloads(self, bytes_per_second: Optional[int]) -> None:
        """Cap what the package tool downloads (lists and packages) at this rate, or not
        (None); each backend passes it in its tool's own setting."""
        self.download_limit = bytes_per_second

    @abc.abstractmethod
    def prepare(self, emit: Emit) -> None:
        """Make the system ready (wait for locks, repair interrupted installs)."""

    @abc.abstractmethod
    def scan(self, emit: Emit) -> List[Update]:
        """Return every applicable update, before any selection is applied."""

    @abc.abstractmethod
    def download(self, updates: List[Update], emit: Emit) -> List[UpdateResult]: ...

    @abc.abstractmethod
    def install(self, updates: List[Update], emit: Emit) -> List[UpdateResult]: ...

    @abc.abstractmethod
    def reboot_state(self) -> RebootState: ...

    def inventory(self) -> Optional[Dict[str, str]]:
        """Return every installed package, name -> version, for the round's change record
        (default: not known)."""
        return None

    def stale(self) -> StaleReport:
        """Return what the package manager's tool (needrestart, needs-restarting, zypper ps)
        says still runs replaced files (default: no tool; the client reads /proc itself)."""
        return StaleReport()

    def install_restart_tool(self, emit: Emit) -> bool:
        """Install the tool stale() asks when it is missing (--install-needrestart); return
        whether it is there now (default: the backend has no tool to install)."""
        return False

    def wait_for_locks(self, emit: Emit) -> None:
        """Wait until no other process holds the package manager's lock (up to the
        backend's lock timeout; raise LockTimeout then); default: no lock to wait for."""
        return None

    def installed_versions(self, ids: List[str]) -> Dict[str, str]:
        """Return id -> installed version of the named updates that are fully installed
        (a recovery round's proof of what an interrupted round installed; default: none)."""
        return {}

    def exceeds_plan(self, candidate: str, planned: str) -> bool:
        """Say whether candidate is newer than the frozen plan's version (default: differs)."""
        return candidate != planned
