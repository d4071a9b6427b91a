"""Lab servers without Debian's Python (issue 26): the shapes interpreter discovery must meet.

`make_platform_python_only` gives an apt server the Python of a minimal RHEL/Rocky/Alma 8:
CPython 3.6 at `/usr/libexec/platform-python` and nothing else. pyenv's 3.6 build is copied in
at its own prefix (its binary finds libpython there by RUNPATH) without its tests or
site-packages, and Debian's `/usr/bin/python3*` are moved aside, so there is no
`/usr/bin/python3` and no python3-apt for the client: its apt-get backend runs.
`remove_python` only moves Debian's aside: a server no client can run on.
Applied to a running server over SSH (the lab's images stay as they are).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from patchpilot.lab.errors import LabError
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

__all__ = [
    "PLATFORM_PYTHON",
    "make_platform_python_only",
    "pyenv_python",
    "remove_python",
    "server_pythons",
]

PLATFORM_PYTHON = "/usr/libexec/platform-python"
_ASIDE = "/root/debian-python-moved-aside"
_LEFT_OUT = {"test", "site-packages", "__pycache__", "idlelib", "tkinter", "turtledemo",
             "ensurepip", "lib2to3", "pydoc_data"}  # fmt: skip


def pyenv_python(version: str = "3.6") -> Path | None:
    """Return pyenv's newest build of CPython version (its prefix), or None."""
    builds = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return builds[-1].parents[1] if builds else None


def _bundle(prefix: Path, version: str) -> bytes:
    """Return a gzipped tar of the interpreter, its libpython and its standard library."""
    members = [f"bin/python{version}", *(p.name for p in (prefix / "lib").glob("libpython*"))]
    members = [m if m.startswith("bin/") else f"lib/{m}" for m in members]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            archive.add(prefix / member, arcname=member)
        archive.add(
            prefix / "lib" / f"python{version}",
            arcname=f"lib/python{version}",
            filter=lambda info: None if _LEFT_OUT & set(info.name.split("/")) else info,
        )
    return buffer.getvalue()


def remove_python(lab: Lab, server: Server) -> None:
    """Move Debian's /usr/bin/python3* aside (kept, to compare; never on PATH)."""
    script = f'mkdir -p {_ASIDE} && for p in /usr/bin/python3*; do mv "$p" {_ASIDE}/; done'
    lab.ssh(server.name, ["sh", "-c", script])


def make_platform_python_only(lab: Lab, server: Server, version: str = "3.6") -> str:
    """Leave pyenv's CPython version as the server's only Python, at /usr/libexec/platform-python.

    Return its version as the server runs it. Raise LabError when pyenv has no such build.
    """
    prefix = pyenv_python(version)
    if prefix is None:
        raise LabError(f"pyenv has no CPython {version} (pyenv versions) to copy in")
    remove_python(lab, server)
    unpack = (f"mkdir -p {prefix} && tar -C {prefix} -xzf - && "
              f"ln -sfn {prefix}/bin/python{version} {PLATFORM_PYTHON}")  # fmt: skip
    config = ["-F", str(lab.ssh_config_path), "-o", "BatchMode=yes", "-l", "root"]
    subprocess.run(["ssh", *config, server.name, unpack], input=_bundle(prefix, version),
                   capture_output=True, check=True, timeout=300)  # fmt: skip
    check = [PLATFORM_PYTHON, "-I", "-S", "-c", "import sys; print(sys.version.split()[0])"]
    return lab.ssh(server.name, check).stdout.strip()


def server_pythons(lab: Lab, server: Server) -> list[str]:
    """Return every python executable on the server's usual paths (to prove there is none)."""
    listing = "ls -1d /usr/bin/python* /usr/local/bin/python* /usr/libexec/platform-python*"
    found = lab.ssh(server.name, ["sh", "-c", f"{listing} 2>/dev/null; true"]).stdout
    return found.split()
