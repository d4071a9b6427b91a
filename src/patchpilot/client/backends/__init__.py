"""The update backends of the client, and the choice between them (`make_backend`)."""

import shutil
import subprocess
from typing import Mapping, Optional

from patchpilot.client.backends.base import Backend
from patchpilot.client.platforms import DEFAULT_BACKEND

__all__ = ["BACKEND_ENV", "Backend", "make_backend"]

RPM_BACKENDS = ("dnf5", "dnf", "zypper")  # auto's order of preference
BACKEND_ENV = "PATCHPILOT_BACKEND"  # overrides the job's "backend" (tests force a path)


def make_backend(
    choice: str,
    lock_timeout: float = 600.0,
    refresh: bool = True,
    windows: Optional[Mapping[str, object]] = None,
    download_limit: Optional[int] = None,
) -> Backend:
    """Return the backend for choice (see _make_backend), its downloads capped at
    download_limit bytes per second when one is given."""
    backend = _make_backend(choice, lock_timeout, refresh, windows)
    backend.limit_downloads(download_limit)
    return backend


def _make_backend(
    choice: str,
    lock_timeout: float,
    refresh: bool,
    windows: Optional[Mapping[str, object]],
) -> Backend:
    """Return the backend for choice: "apt-python", "apt-cli", "dnf", "dnf5", "zypper", "wua",
    or "auto".

    "auto" is the Windows Update Agent on Windows; else dnf5, dnf or zypper where that tool
    is installed and the rpm database holds packages (see `rpm_tool`); else python-apt if
    present, else apt-get.
    windows holds the job's WUA options (service, drivers, optional, classifications).

    Raises RuntimeError when "apt-python" is asked for and python-apt is missing.
    """
    if choice == "auto":
        choice = DEFAULT_BACKEND
    if choice == "wua":
        from patchpilot.client.backends.wua import make_wua_backend

        options = dict(windows or {})
        return make_wua_backend(options.get("classifications") or "all", options)
    if choice == "auto":
        choice = rpm_tool() or "auto"
    if choice in RPM_BACKENDS:
        return _rpm_backend(choice, lock_timeout, refresh)
    # Imported here: apt's modules use fcntl, which a Windows client does not have.
    from patchpilot.client.backends.apt import AptBackend
    from patchpilot.client.backends.apt_python import AptPythonBackend, load_python_apt

    if choice in ("auto", "apt-python"):
        module = load_python_apt()
        if module is not None:
            return AptPythonBackend(module, lock_timeout, refresh)
        if choice == "apt-python":
            raise RuntimeError("python-apt is not installed for this python3")
    return AptBackend(lock_timeout, refresh)


def rpm_tool() -> Optional[str]:
    """Return the RPM-family tool that manages this system, or None (then apt's are used).

    A tool counts when it is installed and the rpm database holds packages: Debian ships rpm,
    dnf and zypper too, with an empty database.
    """
    tools = [name for name in RPM_BACKENDS if shutil.which(name)]
    if not tools or not shutil.which("rpm"):
        return None
    done = subprocess.run(
        ["rpm", "-qa", "--qf", "%{NAME}\\n"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return tools[0] if done.returncode == 0 and done.stdout.strip() else None


def _rpm_backend(choice: str, lock_timeout: float, refresh: bool) -> Backend:
    if choice == "zypper":
        from patchpilot.client.backends.zypper import ZypperBackend

        return ZypperBackend(lock_timeout, refresh)
    if choice == "dnf5":
        from patchpilot.client.backends.dnf5 import Dnf5Backend

        return Dnf5Backend(lock_timeout, refresh)
    from patchpilot.client.backends.dnf import DnfBackend

    return DnfBackend(lock_timeout, refresh)
