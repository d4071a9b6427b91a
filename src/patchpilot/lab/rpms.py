"""Declarative RPM specs and the `.rpm` files built from them with `rpmbuild`.

The RPM twin of `debs.py`: an `RpmSpec` says what a lab package is (name, epoch, version,
release, repository, requirements, files, `%post` scriptlet); `build_rpm` writes a spec file
and runs Debian's `rpmbuild` on it, so rpm, dnf and zypper on the lab servers handle real
packages with real headers, scriptlets and dependencies.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from patchpilot.lab.tools import run

__all__ = ["RpmSpec", "build_rpm", "rpm_filename", "spec_file"]


@dataclass(frozen=True)
class RpmSpec:
    """One version of one lab RPM; `repo` names the lab repository that serves it."""

    name: str
    version: str
    release: str = "1"
    epoch: int | None = None
    repo: str = "lab"
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    post: str | None = None

    @property
    def evr(self) -> str:
        """Epoch:version-release as rpm prints it (no epoch when there is none)."""
        head = f"{self.epoch}:" if self.epoch is not None else ""
        return f"{head}{self.version}-{self.release}"

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.evr}.noarch"


def spec_file(spec: RpmSpec) -> str:
    """Return the rpmbuild spec text of a spec: files written in %install, listed in %files."""
    lines = [
        f"Name: {spec.name}",
        f"Version: {spec.version}",
        f"Release: {spec.release}",
        *([f"Epoch: {spec.epoch}"] if spec.epoch is not None else []),
        f"Summary: patchpilot lab package {spec.name}",
        "License: MIT",
        "BuildArch: noarch",
        *(f"Requires: {r}" for r in spec.requires),
        *(f"Provides: {p}" for p in spec.provides),
        "%description",
        f"patchpilot lab package {spec.name}.",
        "%install",
    ]
    for number, (path, content) in enumerate(spec.files):
        folder = path.rsplit("/", 1)[0] or "/"
        lines += [
            f"mkdir -p %{{buildroot}}{folder}",
            f"cat > %{{buildroot}}{path} <<'LAB_EOF_{number}'",
            content.rstrip("\n"),
            f"LAB_EOF_{number}",
        ]
    if spec.post is not None:
        lines += ["%post", spec.post.rstrip("\n")]
    lines += ["%files", *(path for path, _ in spec.files)]
    return "\n".join(lines) + "\n"


def rpm_filename(spec: RpmSpec) -> str:
    """Return the file name rpmbuild gives the spec's package (no epoch, as rpm does)."""
    return f"{spec.name}-{spec.version}-{spec.release}.noarch.rpm"


def build_rpm(spec: RpmSpec, directory: Path) -> Path:
    """Build the spec's `.rpm` into directory and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pp-rpm-") as tmp:
        specfile = Path(tmp) / f"{spec.name}.spec"
        specfile.write_text(spec_file(spec))
        defines = [
            *("--define", f"_topdir {tmp}/top"),
            *("--define", f"_rpmdir {directory}"),
            *("--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm"),
            *("--define", "_binary_payload w2.gzdio"),
        ]
        run(["rpmbuild", "-bb", "--quiet", *defines, specfile], timeout=120)
    return directory / rpm_filename(spec)
