"""The zipapp is reproducible and runs without site-packages."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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


def _oldest_python() -> str | None:
    """Return a working python3.6, the client's floor (pyenv's, or on PATH), or None."""
    candidates = [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.6*/bin/python3.6"))]
    candidates.append(shutil.which("python3.6") or "")
    for candidate in filter(None, candidates):
        if (
            subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode
            == 0
        ):
            return candidate
    return None


IMPORT_ALL = """
import importlib, sys, zipfile
sys.path.insert(0, sys.argv[1])
names = sorted(n[:-3].replace("/", ".").replace(".__init__", "")
               for n in zipfile.ZipFile(sys.argv[1]).namelist()
               if n.startswith("patchpilot/") and n.endswith(".py") and "__main__" not in n)
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_module_imports_on_python_3_6(tmp_path: Path) -> None:
    python = _oldest_python()
    if python is None:
        pytest.skip("no python3.6 on this machine")
    built = build_client(tmp_path)
    out = subprocess.run(
        [python, "-I", "-S", "-c", IMPORT_ALL, str(built.path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout) > 20
    version = subprocess.run(
        [python, "-I", "-S", str(built.path), "version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == CLIENT_VERSION
