"""The client's modules import where there is no fcntl (Windows), with msvcrt locking instead."""

import subprocess
import sys
import textwrap
from pathlib import Path

import patchpilot

SCRIPT = textwrap.dedent(
    """
    import sys, types
    import glob, select, shutil, socket, subprocess, tempfile, threading  # imported as on Linux
    sys.modules["fcntl"] = None  # what Windows has: no fcntl
    calls = []
    msvcrt = types.ModuleType("msvcrt")
    msvcrt.LK_NBLCK = 2
    msvcrt.locking = lambda fd, mode, size: calls.append((mode, size))
    sys.modules["msvcrt"] = msvcrt
    sys.platform = "win32"
    import patchpilot.client.cli, patchpilot.client.round, patchpilot.client.attach
    from patchpilot.client.backends import make_backend
    from patchpilot.client.lock import ClientLock
    assert make_backend("wua").name == "wua"
    assert ClientLock().acquire("r1", 1) and calls == [(2, 1)]
    from patchpilot.client.platforms import shell_argv
    expected = "C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe"
    assert shell_argv("x")[0] == expected  # by its full path, never a bare name
    print("ok")
    """
)


def test_client_imports_without_fcntl(tmp_path: Path) -> None:
    source = str(Path(patchpilot.__file__).parents[1])
    env = {"PROGRAMDATA": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": source}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
