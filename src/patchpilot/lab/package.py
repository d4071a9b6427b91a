"""patchpilot as a user installs it: the sdist and wheel built from a checkout, and fresh
virtualenvs outside the checkout that hold only what pip put there.

The package tests (tests/lab/packaging, tests/lab/airflow) patch lab servers with such an
installation to prove that the wheel stands alone: nothing of the checkout on the path (no
PYTHONPATH, the working folder elsewhere), its dependencies resolved by pip from the ranges
the wheel declares.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Dist", "build_dist", "clean_env", "fresh_venv", "pip_install", "site_packages"]

_BUILD_TIMEOUT = 600
_INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


def clean_env() -> dict[str, str]:
    """Return this process's environment without what would reach a checkout's sources."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }


def _run(argv: list[str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-3000:]}")
    return done.stdout


def build_dist(checkout: Path, out: Path) -> Dist:
    """Build the sdist, then the wheel from that sdist (`python -m build`), into out."""
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(checkout)], out.parent,
         _BUILD_TIMEOUT)  # fmt: skip
    (sdist,) = out.glob("patchpilot-*.tar.gz")
    (wheel,) = out.glob("patchpilot-*-py3-none-any.whl")
    return Dist(sdist, wheel)


def fresh_venv(folder: Path, python: str = "/usr/bin/python3") -> Path:
    """Make an empty virtualenv (pip only) at folder; return it."""
    _run([python, "-m", "venv", str(folder)], folder.parent, 120)
    return folder


def pip_install(venv: Path, *args: str) -> str:
    """Run the venv's `pip install` (its own resolver, the machine's pip configuration) from
    the venv's folder, so nothing of a checkout is on its path; return pip's output."""
    return _run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", *args],
                venv.parent, _INSTALL_TIMEOUT)  # fmt: skip


def site_packages(venv: Path) -> Path:
    """Return the venv's site-packages folder."""
    (folder,) = (venv / "lib").glob("python3*/site-packages")
    return folder
