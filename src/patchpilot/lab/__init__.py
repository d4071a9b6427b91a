"""The lab: real Debian servers (systemd-nspawn containers, qemu VMs) started by code.

Tests, benchmarks and the demo use it through `Lab` (see `lab.py`), the `patchpilot lab`
command and the pytest fixtures `lab` and `lab_server` (see `fixtures.py`).
"""

from __future__ import annotations

from patchpilot.lab.base import PLAIN_USER, SUDO_LOG, SUDO_USER
from patchpilot.lab.catalog import FINAL_VERSIONS, OPT_IN_FINAL_VERSIONS
from patchpilot.lab.debs import PackageSpec
from patchpilot.lab.errors import LabError
from patchpilot.lab.lab import Lab
from patchpilot.lab.repo import Repository
from patchpilot.lab.rpmcatalog import RPM_FINAL_VERSIONS
from patchpilot.lab.server import Server

__all__ = [
    "FINAL_VERSIONS",
    "OPT_IN_FINAL_VERSIONS",
    "PLAIN_USER",
    "RPM_FINAL_VERSIONS",
    "SUDO_LOG",
    "SUDO_USER",
    "Lab",
    "LabError",
    "PackageSpec",
    "Repository",
    "Server",
]
