"""Which kind of server the lab starts: apt (the default), dnf, zypper, or a mix.

`rpm` is dnf's alias (the RPM family's most common tool); `mixed` cycles apt, dnf, zypper.
An RPM flavor needs its image (`rpmbase.py`) and the lab's RPM repositories published
(`rpmrepo.py`, on first use: ~6 s), then asks the supervisor for servers on that image.
"""

from __future__ import annotations

from itertools import cycle, islice
from pathlib import Path

from patchpilot.lab.errors import LabError
from patchpilot.lab.rpmbase import RPM_FLAVORS, ensure_flavor_base
from patchpilot.lab.rpmcatalog import RPM_CATALOG, RPM_OPT_IN_INITIAL
from patchpilot.lab.rpmrepo import RpmRepository
from patchpilot.lab.rpms import rpm_filename
from patchpilot.lab.tools import RPM_TOOLS, require_tools

__all__ = ["FLAVORS", "ensure_rpm_repo", "flavor_base", "flavor_sequence", "opt_in_rpm_url"]

FLAVORS = ("apt", "dnf", "zypper", "rpm", "mixed")


def flavor_sequence(flavor: str, count: int) -> list[str]:
    """Return the concrete flavor (apt, dnf, zypper) of each of count new servers."""
    if flavor not in FLAVORS:
        raise LabError(f"unknown lab flavor {flavor!r} (one of {', '.join(FLAVORS)})")
    if flavor == "mixed":
        return list(islice(cycle(("apt", *RPM_FLAVORS)), count))
    return [("dnf" if flavor == "rpm" else flavor)] * count


def flavor_base(flavor: str, cache: Path) -> Path | None:
    """Return the image of an RPM flavor (built on first use), None for apt (the lab's base)."""
    if flavor == "apt":
        return None
    require_tools(RPM_TOOLS)
    return ensure_flavor_base(flavor, cache)


def ensure_rpm_repo(repo_dir: Path) -> RpmRepository:
    """Publish the RPM catalog into the lab's repository folder unless it already is."""
    rpm_repo = RpmRepository(repo_dir)
    if not rpm_repo.is_published():
        rpm_repo.publish_all(RPM_CATALOG)
    return rpm_repo


def opt_in_rpm_url(repo_url: str, package: str) -> str:
    """Return the URL of an opt-in package's old version in the lab's `lab` RPM repository."""
    if package not in RPM_OPT_IN_INITIAL:
        raise LabError(f"{package!r} is not an opt-in RPM ({', '.join(RPM_OPT_IN_INITIAL)})")
    return f"{repo_url}rpm/lab/{rpm_filename(RPM_OPT_IN_INITIAL[package])}"
