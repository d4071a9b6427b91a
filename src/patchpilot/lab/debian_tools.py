"""Debian's own tools a lab server may install from the lab repository: needrestart.

The base image leaves needrestart out (it brings perl and binutils, and its apt hook would run
after every dpkg call of every test). A test that wants it publishes it in the `lab-tools`
suite, which only the servers it points there read. The packages are the ones this machine's
Debian mirror has for the image's release, downloaded once into the cache: apt resolves
needrestart against the image's own package database (its dpkg status file) and the image's
release (`-t bookworm`), so only packages the image lacks come, at versions its installed
ones satisfy, and nothing already on a server is upgraded by them.
"""

from __future__ import annotations

from pathlib import Path

from patchpilot.lab.base import DEFAULT_CACHE, cached_build, ensure_base
from patchpilot.lab.releases import DEFAULT_RELEASE
from patchpilot.lab.tools import run

__all__ = ["TOOLS_SUITE", "needrestart_debs"]

TOOLS_SUITE = "lab-tools"


def needrestart_debs(cache: Path = DEFAULT_CACHE) -> list[Path]:
    """Return needrestart and the packages it needs beyond the bookworm image (~15 MB),
    downloaded once from the machine's Debian mirror."""
    image = ensure_base(cache)

    def download(staging: Path) -> None:
        (staging / "partial").mkdir(parents=True)
        staging.chmod(0o755)
        run(
            ["apt-get", "install", "-q", "-y", "--download-only", "--no-install-recommends",
             "-t", DEFAULT_RELEASE,
             "-o", f"Dir::State::status={image / 'var/lib/dpkg/status'}",
             "-o", f"Dir::Cache::archives={staging}", "-o", "Debug::NoLocking=1",
             "needrestart"],
            timeout=600,
        )  # fmt: skip

    folder = cached_build(cache, f"lab-needrestart-{image.name}", download)
    return sorted(folder.glob("*.deb"))
