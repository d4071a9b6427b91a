"""Which kind of server the lab starts: apt (the default), dnf, zypper, or a mix; and on which
Debian release (`releases.py`: bookworm by default, bullseye or trixie for apt servers).

`rpm` is dnf's alias (the RPM family's most common tool); `mixed` cycles apt, dnf, zypper.
An RPM flavor needs its image (`rpmbase.py`) and the lab's RPM repositories published
(`rpmrepo.py`, on first use: ~6 s), then asks the supervisor for servers on that image.
An apt server of another release than bookworm runs on that release's base image (`base.py`,
built on first use).
"""

from __future__ import annotations

from itertools import cycle, islice
from pathlib import Path

from patchpilot.lab.base import ensure_base
from patchpilot.lab.errors import LabError
from patchpilot.lab.releases import DEFAULT_RELEASE, debian_release
from patchpilot.lab.rpmbase import RPM_FLAVORS, ensure_flavor_base
from patchpilot.lab.rpmcatalog import RPM_CATALOG, RPM_OPT_IN_INITIAL
from patchpilot.lab.rpmrepo import RpmRepository
from patchpilot.lab.rpms import rpm_filename
from patchpilot.lab.tools import RPM_TOOLS, require_tools

__all__ = [
    "FLAVORS",
    "check_release",
    "ensure_rpm_repo",
    "flavor_base",
    "flavor_sequence",
    "opt_in_rpm_url",
]

FLAVORS = ("apt", "dnf", "zypper", "rpm", "mixed")


def flavor_sequence(flavor: str, count: int) -> list[str]:
    """Return the concrete flavor (apt, dnf, zypper) of each of count new servers."""
    if flavor not in FLAVORS:
        raise LabError(f"unknown lab flavor {flavor!r} (one of {', '.join(FLAVORS)})")
    if flavor == "mixed":
        return list(islice(cycle(("apt", *RPM_FLAVORS)), count))
    return [("dnf" if flavor == "rpm" else flavor)] * count


def check_release(flavor: str, release: str) -> None:
    """Refuse an unknown release, or another release than bookworm for RPM servers."""
    debian_release(release)
    if release != DEFAULT_RELEASE and flavor != "apt":
        raise LabError(f"--release {release} is for apt servers; {flavor} servers run bookworm")


def flavor_base(flavor: str, cache: Path, release: str = DEFAULT_RELEASE) -> Path | None:
    """Return the image of a flavor and release (built on first use); None for the lab's
    own base (apt on bookworm)."""
    if flavor == "apt":
        return None if release == DEFAULT_RELEASE else ensure_base(cache, release=release)
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
