"""Declarative package specs and the `.deb` files built from them with `dpkg-deb`.

A `PackageSpec` says what a lab package is (name, version, suite, dependencies, files,
conffiles, maintainer scripts); `build_deb` turns it into a real binary package, so apt and
dpkg on the lab servers do exactly what they do with Debian's packages.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from patchpilot.lab.tools import run

__all__ = ["PackageSpec", "build_deb", "control_text", "deb_filename"]

MAINTAINER = "patchpilot lab <lab@patchpilot.invalid>"


@dataclass(frozen=True)
class PackageSpec:
    """One version of one lab package; `suite` is the repository suite that serves it."""

    name: str
    version: str
    suite: str = "bookworm"
    depends: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()  # installing this version removes those packages
    description: str = "patchpilot lab package"
    files: tuple[tuple[str, str], ...] = ()
    conffiles: tuple[str, ...] = ()
    postinst: str | None = None

    def __post_init__(self) -> None:
        for path in (*(p for p, _ in self.files), *self.conffiles):
            if not path.startswith("/"):
                raise ValueError(f"{self.name}: package paths must be absolute, not {path!r}")


def control_text(spec: PackageSpec) -> str:
    """Return the DEBIAN/control paragraph of a spec (no trailing blank line)."""
    fields = [
        ("Package", spec.name),
        ("Version", spec.version),
        ("Architecture", "all"),
        ("Maintainer", MAINTAINER),
        ("Section", "misc"),
        ("Priority", "optional"),
    ]
    if spec.depends:
        fields.append(("Depends", ", ".join(spec.depends)))
    if spec.conflicts:
        fields.append(("Conflicts", ", ".join(spec.conflicts)))
    fields.append(("Description", spec.description))
    return "".join(f"{key}: {value}\n" for key, value in fields)


def deb_filename(spec: PackageSpec) -> str:
    """Return the Debian file name of a spec's package (epochs left out, as dpkg does)."""
    version = spec.version.split(":", 1)[-1]
    return f"{spec.name}_{version}_all.deb"


def build_deb(spec: PackageSpec, directory: Path) -> Path:
    """Build the spec's `.deb` into directory and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / deb_filename(spec)
    with tempfile.TemporaryDirectory(prefix="pp-deb-") as tmp:
        root = Path(tmp) / "root"
        _write_tree(spec, root)
        run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", root, target])
    return target


def _write_tree(spec: PackageSpec, root: Path) -> None:
    debian = root / "DEBIAN"
    debian.mkdir(parents=True)
    (debian / "control").write_text(control_text(spec))
    if spec.conffiles:
        (debian / "conffiles").write_text("".join(f"{path}\n" for path in spec.conffiles))
    if spec.postinst is not None:
        script = debian / "postinst"
        script.write_text(f"#!/bin/sh\nset -e\n{spec.postinst}")
        script.chmod(0o755)
    for path, content in spec.files:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    for directory in [root, *root.rglob("*")]:
        if directory.is_dir():
            directory.chmod(0o755)
