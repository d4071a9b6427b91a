"""The zipapp is reproducible and runs without site-packages."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from patchpilot.client import CLIENT_VERSION
from patchpilot.client_build import build_client


def test_same_source_same_bytes(tmp_path: Path) -> None:
    first = build_client(tmp_path / "a")
    second = build_client(tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()


def test_contents_are_sorted_with_fixed_metadata(tmp_path: Path) -> None:
    built = build_client(tmp_path)
    with zipfile.ZipFile(built.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "__main__.py" in names and "patchpilot/protocol/framing.py" in names
    assert not any("__pycache__" in n for n in names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o644}


def test_runs_isolated(tmp_path: Path) -> None:
    built = build_client(tmp_path)
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(built.path), "version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == CLIENT_VERSION
