"""The lab's apt repository: a pool of `.deb` files, Debian-style indexes, and its HTTP server.

Layout (what apt expects of a flat Debian archive with suites):
`pool/<suite>/<file>.deb`, `dists/<suite>/main/binary-amd64/Packages` and
`dists/<suite>/Release`. Each suite has its own Origin/Label; `bookworm-security` is
labelled like Debian's security archive so "security only" selection can be tested. Every
server reads `bookworm` and `bookworm-security` whatever its release; `lab-<codename>` suites
(`lab-bullseye`, ...) are read only by servers a test points at them, for versions that
exist on one Debian release only.
Publishing rebuilds the suite's indexes under a file lock, so tests may publish new
versions while servers run. The HTTP server (run by the lab's supervisor) serves the folder.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from patchpilot.lab.debs import PackageSpec, build_deb
from patchpilot.lab.releases import RELEASES
from patchpilot.lab.tools import locked, run

__all__ = [
    "SUITES",
    "Repository",
    "SuiteInfo",
    "packages_entry",
    "release_text",
    "serve_repository",
]


@dataclass(frozen=True)
class SuiteInfo:
    """What a suite's Release file says about where it comes from."""

    origin: str
    label: str


SUITES: dict[str, SuiteInfo] = {
    "bookworm": SuiteInfo("patchpilot-lab", "patchpilot-lab"),
    "bookworm-security": SuiteInfo("Debian", "Debian-Security"),
    "bookworm-stage2": SuiteInfo("patchpilot-lab", "patchpilot-lab-stage2"),
    # Debian's own tools a test installs (debian_tools.py), read only by the servers it picks
    "lab-tools": SuiteInfo("patchpilot-lab", "patchpilot-lab-tools"),
    **{f"lab-{name}": SuiteInfo("patchpilot-lab", f"patchpilot-lab-{name}") for name in RELEASES},
}
INDEX = "main/binary-amd64/Packages"


def packages_entry(control: str, filename: str, data: bytes) -> str:
    """Return one Packages paragraph: the control fields plus where and what the file is."""
    extra = (
        f"Filename: {filename}\n"
        f"Size: {len(data)}\n"
        f"MD5sum: {hashlib.md5(data, usedforsecurity=False).hexdigest()}\n"
        f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
    )
    return control.rstrip("\n") + "\n" + extra


def release_text(suite: str, info: SuiteInfo, packages: bytes, now: datetime) -> str:
    """Return a suite's Release file listing its one Packages index."""
    md5 = hashlib.md5(packages, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(packages).hexdigest()
    return (
        f"Origin: {info.origin}\n"
        f"Label: {info.label}\n"
        f"Suite: {suite}\n"
        f"Codename: {suite}\n"
        f"Date: {now.strftime('%a, %d %b %Y %H:%M:%S UTC')}\n"
        "Architectures: amd64\n"
        "Components: main\n"
        f"Description: patchpilot lab repository, suite {suite}\n"
        f"MD5Sum:\n {md5} {len(packages)} {INDEX}\n"
        f"SHA256:\n {sha256} {len(packages)} {INDEX}\n"
    )


class Repository:
    """A lab apt repository in a folder, served to the servers at `url`."""

    def __init__(self, directory: Path, url: str) -> None:
        self.directory = directory
        self.url = url

    def sources_list(self, suites: Sequence[str] = ("bookworm", "bookworm-security")) -> str:
        """Return the sources.list lines a server uses for the given suites."""
        return "".join(f"deb [trusted=yes] {self.url} {suite} main\n" for suite in suites)

    def publish(self, spec: PackageSpec) -> Path:
        """Build the spec's package into the pool and reindex its suite; return the .deb."""
        self._check_suite(spec.suite)
        with locked(self.directory / ".lock"):
            deb = build_deb(spec, self.directory / "pool" / spec.suite)
            self._index(spec.suite)
        return deb

    def publish_all(self, specs: Sequence[PackageSpec]) -> None:
        """Publish many specs, reindexing each touched suite once."""
        with locked(self.directory / ".lock"):
            for spec in specs:
                self._check_suite(spec.suite)
                build_deb(spec, self.directory / "pool" / spec.suite)
            for suite in sorted({spec.suite for spec in specs}):
                self._index(suite)

    def publish_debs(self, debs: Sequence[Path], suite: str) -> None:
        """Publish ready-made `.deb` files (Debian's own, say) in suite, once each."""
        self._check_suite(suite)
        with locked(self.directory / ".lock"):
            pool = self.directory / "pool" / suite
            pool.mkdir(parents=True, exist_ok=True)
            for deb in debs:
                target = pool / deb.name
                if not target.exists() or target.stat().st_size != deb.stat().st_size:
                    shutil.copyfile(deb, target)
            self._index(suite)

    def add_package(
        self,
        name: str,
        version: str,
        *,
        suite: str = "bookworm",
        depends: Sequence[str] = (),
        postinst: str | None = None,
        files: Sequence[tuple[str, str]] = (),
    ) -> Path:
        """Publish a new package or a new version of one (a shortcut for `publish`)."""
        spec = PackageSpec(
            name, version, suite, tuple(depends), files=tuple(files), postinst=postinst
        )
        return self.publish(spec)

    def reindex(self) -> None:
        """Rebuild every suite's index (empty suites get empty indexes)."""
        with locked(self.directory / ".lock"):
            for suite in SUITES:
                self._index(suite)

    def _check_suite(self, suite: str) -> None:
        if suite not in SUITES:
            raise ValueError(f"unknown suite {suite!r}; the lab serves {', '.join(SUITES)}")

    def _index(self, suite: str) -> None:
        pool = self.directory / "pool" / suite
        entries = []
        for deb in sorted(pool.glob("*.deb")) if pool.is_dir() else []:
            control = run(["dpkg-deb", "--field", deb]).stdout
            filename = deb.relative_to(self.directory).as_posix()
            entries.append(packages_entry(control, filename, deb.read_bytes()))
        packages = "\n".join(entries).encode()
        dists = self.directory / "dists" / suite
        (dists / INDEX).parent.mkdir(parents=True, exist_ok=True)
        _replace(dists / INDEX, packages)
        release = release_text(suite, SUITES[suite], packages, datetime.now(UTC))
        _replace(dists / "Release", release.encode())


def _replace(path: Path, data: bytes) -> None:
    """Write a file atomically so the HTTP server never serves half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the supervisor's log free of one line per request."""


def serve_repository(directory: Path, address: str, port: int) -> http.server.ThreadingHTTPServer:
    """Serve the repository folder over HTTP on address:port from a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="lab-repo-http", daemon=True).start()
    return server
