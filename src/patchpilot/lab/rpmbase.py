"""The RPM servers' images: Debian roots with Debian's rpm, dnf or zypper, seeded with RPMs.

One image per package tool, because Debian 12's `dnf-plugins-core` (which has `dnf
needs-restarting`) declares Breaks/Replaces on `zypper`: the two cannot share a root. Each
image is the lab base recipe (debootstrap, users, sshd; without the .deb catalog) plus the
tool, an rpm database at /var/lib/rpm (Debian's rpm defaults to ~/.rpmdb), and the RPM
catalog's old versions installed with `rpm -i`. Cached like the base, under its own key.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from patchpilot.lab.base import (
    BASE_PACKAGES,
    DEFAULT_CACHE,
    base_key,
    cached_build,
    customize,
    debootstrap,
    mirror_url,
)
from patchpilot.lab.rpmcatalog import REBOOT_PACKAGES, RPM_BASE_INSTALLED
from patchpilot.lab.rpms import build_rpm, spec_file
from patchpilot.lab.tools import run

__all__ = ["FLAVOR_PACKAGES", "RPM_FLAVORS", "ensure_flavor_base"]

RECIPE_VERSION = 1
FLAVOR_PACKAGES: dict[str, tuple[str, ...]] = {
    "dnf": ("rpm", "dnf", "dnf-plugins-core"),
    "zypper": ("rpm", "zypper"),
}
RPM_FLAVORS = tuple(FLAVOR_PACKAGES)
CONFIG_FILES: dict[str, dict[str, str]] = {
    "dnf": {
        "etc/rpm/macros.lab": "%_dbpath /var/lib/rpm\n",
        "etc/dnf/plugins/needs-restarting.d/lab.conf": "".join(
            f"{name}\n" for name in REBOOT_PACKAGES
        ),
        # Debian's dnf.conf; no GPG keys exist for the lab's packages, no weak deps.
        "etc/dnf/dnf.conf": "[main]\ngpgcheck=0\ninstallonly_limit=3\nbest=True\n"
        "skip_if_unavailable=False\ninstall_weak_deps=False\n",
        # Debian enables dnf-plugins-core's `local` plugin, which runs createrepo_c after
        # every transaction (not installed): Fedora does not ship it enabled.
        "etc/dnf/plugins/local.conf": "[main]\nenabled=0\n",
        "etc/yum.repos.d/.keep": "",
    },
    "zypper": {
        "etc/rpm/macros.lab": "%_dbpath /var/lib/rpm\n",
        "etc/zypp/repos.d/.keep": "",
        "etc/zypp/needreboot": "".join(f"{name}\n" for name in REBOOT_PACKAGES),
    },
}


def flavor_key(flavor: str, mirror: str) -> str:
    """Return the cache key of a flavor's image (changes with the base, tool or catalog)."""
    recipe = {
        "version": RECIPE_VERSION,
        "base": base_key(mirror),
        "packages": FLAVOR_PACKAGES[flavor],
        "config": CONFIG_FILES[flavor],
        "rpms": [spec_file(spec) for spec in RPM_BASE_INSTALLED],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_flavor_base(flavor: str, cache: Path = DEFAULT_CACHE, *, rebuild: bool = False) -> Path:
    """Return the cached image of an RPM flavor ("dnf" or "zypper"), building it when needed."""
    if flavor not in FLAVOR_PACKAGES:
        raise ValueError(f"unknown RPM flavor {flavor!r} (one of {', '.join(RPM_FLAVORS)})")
    mirror = mirror_url()

    def build(rootfs: Path) -> None:
        debootstrap(rootfs, mirror, (*BASE_PACKAGES, *FLAVOR_PACKAGES[flavor]))
        customize(rootfs, with_debs=False)
        _configure(rootfs, flavor)
        _seed_rpmdb(rootfs)

    return cached_build(cache, f"lab-{flavor}-{flavor_key(flavor, mirror)}", build, rebuild=rebuild)


def _configure(rootfs: Path, flavor: str) -> None:
    for relative, content in CONFIG_FILES[flavor].items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name != ".keep":
            path.write_text(content)


def _seed_rpmdb(rootfs: Path) -> None:
    """Create the rpm database and install the catalog's old versions with the image's rpm."""
    run(["chroot", rootfs, "rpm", "--initdb"])
    with tempfile.TemporaryDirectory(prefix="lab-rpms-", dir=rootfs / "tmp") as tmp:
        rpms = [build_rpm(spec, Path(tmp)) for spec in RPM_BASE_INSTALLED]
        inside = [f"/{rpm.relative_to(rootfs)}" for rpm in rpms]
        run(["chroot", rootfs, "rpm", "-i", *inside])
