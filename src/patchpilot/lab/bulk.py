"""The opt-in bulk catalog: thousands of tiny packages, for a server years behind on updates.

`lab-bulk-NNNN` 1.0 and 2.0 (a file each, no scripts) are written as `.deb` files directly
(ar and tar in Python: building thousands with dpkg-deb takes minutes) and published in the
lab repository; `install_bulk` puts every 1.0 on a server, which then has that many pending
updates. A scan of them makes journal records over the 1 MiB frame (docs/security.md,
item 4), so a run that patches them all end to end shows records are split at the source.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from patchpilot.lab.debs import MAINTAINER

__all__ = ["BULK_PREFIX", "bulk_debs", "bulk_names", "write_deb"]

BULK_PREFIX = "lab-bulk-"


def bulk_names(count: int) -> list[str]:
    return [f"{BULK_PREFIX}{n:04d}" for n in range(count)]


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folders = sorted({str(Path(p).parent) for p in files} - {"."})
        for folder in ["."] + [f"./{d}" for d in _parents(folders)]:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(f"./{path}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)


def _parents(folders: list[str]) -> list[str]:
    """Return every folder and its parents, parents first."""
    found: set[str] = set()
    for folder in folders:
        parts = Path(folder).parts
        found.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(found, key=lambda f: (f.count("/"), f))


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def write_deb(name: str, version: str, directory: Path) -> Path:
    """Write a one-file package `name` at `version` into directory; return its path."""
    control = (
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: {MAINTAINER}\n"
        f"Section: misc\nPriority: optional\nDescription: patchpilot lab bulk package\n"
    ).encode()
    data = {f"usr/share/lab/bulk/{name}.version": f"{version}\n".encode()}
    deb = b"!<arch>\n" + b"".join(
        (
            _ar_member("debian-binary", b"2.0\n"),
            _ar_member("control.tar.gz", _tar_gz({"control": control})),
            _ar_member("data.tar.gz", _tar_gz(data)),
        )
    )
    path = directory / f"{name}_{version}_all.deb"
    path.write_bytes(deb)
    return path


def bulk_debs(count: int, directory: Path) -> list[Path]:
    """Write 1.0 and 2.0 of `count` bulk packages into directory; return the files."""
    directory.mkdir(parents=True, exist_ok=True)
    return [write_deb(n, v, directory) for n in bulk_names(count) for v in ("1.0", "2.0")]
