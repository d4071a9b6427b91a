"""The update backends of the client, and the choice between them (`make_backend`)."""

from __future__ import annotations

import os
from typing import Mapping, Optional

from patchpilot.client.backends.base import Backend

__all__ = ["BACKEND_ENV", "Backend", "make_backend"]

BACKEND_ENV = "PATCHPILOT_BACKEND"  # overrides the job's "backend" (tests force a path)


def make_backend(
    choice: str,
    lock_timeout: float = 600.0,
    refresh: bool = True,
    windows: Optional[Mapping[str, object]] = None,
) -> Backend:
    """Return the backend for choice: "apt-python", "apt-cli", "wua", or "auto".

    "auto" is the Windows Update Agent on Windows, else python-apt if present, else apt-get.
    windows holds the job's WUA options (service, drivers, optional, classifications).

    Raises RuntimeError when "apt-python" is asked for and python-apt is missing.
    """
    if choice == "wua" or (choice == "auto" and os.name == "nt"):
        from patchpilot.client.backends.wua import make_wua_backend

        options = dict(windows or {})
        return make_wua_backend(options.get("classifications") or "all", options)
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
