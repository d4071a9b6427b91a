"""Package specs, Debian index files, and a repository built in a folder."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchpilot.lab.debs import PackageSpec, control_text, deb_filename
from patchpilot.lab.repo import SUITES, Repository, packages_entry, release_text


def test_control_text_lists_dependencies() -> None:
    spec = PackageSpec("lab-x", "2.0", depends=("lab-y (>= 1)",), description="x")
    assert control_text(spec) == (
        "Package: lab-x\nVersion: 2.0\nArchitecture: all\n"
        "Maintainer: patchpilot lab <lab@patchpilot.invalid>\nSection: misc\n"
        "Priority: optional\nDepends: lab-y (>= 1)\nDescription: x\n"
    )
    assert deb_filename(PackageSpec("lab-x", "1:2.0")) == "lab-x_2.0_all.deb"


def test_relative_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        PackageSpec("lab-x", "1", files=(("etc/x", ""),))


def test_packages_entry_adds_file_facts() -> None:
    entry = packages_entry("Package: a\nVersion: 1\n", "pool/bookworm/a_1_all.deb", b"abc")
    assert entry.endswith(
        f"Size: 3\nMD5sum: {hashlib.md5(b'abc').hexdigest()}\n"
        f"SHA256: {hashlib.sha256(b'abc').hexdigest()}\n"
    )
    assert "Filename: pool/bookworm/a_1_all.deb\n" in entry


def test_security_release_looks_like_debians() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    text = release_text("bookworm-security", SUITES["bookworm-security"], b"", when)
    assert "Origin: Debian\nLabel: Debian-Security\nSuite: bookworm-security\n" in text
    assert "Date: Fri, 02 Jan 2026 03:04:05 UTC\n" in text


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_publishing_builds_the_deb_and_indexes_its_suite(tmp_path: Path) -> None:
    repo = Repository(tmp_path, "http://10.231.9.1:8080/")
    repo.add_package("lab-new", "3.0", suite="bookworm-security", postinst="true\n")
    packages = (tmp_path / "dists/bookworm-security/main/binary-amd64/Packages").read_text()
    assert "Package: lab-new\nVersion: 3.0\n" in packages
    assert (tmp_path / "pool/bookworm-security/lab-new_3.0_all.deb").exists()
    release = (tmp_path / "dists/bookworm-security/Release").read_text()
    assert hashlib.sha256(packages.encode()).hexdigest() in release
    assert repo.sources_list() == (
        "deb [trusted=yes] http://10.231.9.1:8080/ bookworm main\n"
        "deb [trusted=yes] http://10.231.9.1:8080/ bookworm-security main\n"
    )


def test_unknown_suite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown suite"):
        Repository(tmp_path, "http://x/").add_package("a", "1", suite="sid")
