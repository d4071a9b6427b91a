"""The bulk catalog's packages, written without dpkg-deb, are packages dpkg-deb reads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from patchpilot.lab.bulk import bulk_debs, bulk_names


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_bulk_packages_are_real_debs(tmp_path: Path) -> None:
    debs = bulk_debs(3, tmp_path)
    assert [d.name for d in debs[:2]] == ["lab-bulk-0000_1.0_all.deb", "lab-bulk-0000_2.0_all.deb"]
    fields = subprocess.run(
        ["dpkg-deb", "--field", str(debs[1]), "Package", "Version"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert fields == "Package: lab-bulk-0000\nVersion: 2.0\n"
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(debs[1])], capture_output=True, text=True, check=True
    ).stdout
    assert "./usr/share/lab/bulk/lab-bulk-0000.version" in listing
    assert bulk_names(2) == ["lab-bulk-0000", "lab-bulk-0001"]
