"""Reboot the target with whatever it has: `systemctl reboot`, `shutdown -r now`, `reboot`.

On Windows: `shutdown.exe /r /t 0`, recorded as a planned restart for an operating-system
hot fix (reason p:2:17), so the event log says why the server restarted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import List, Optional, Sequence, Tuple

__all__ = ["REBOOT_COMMANDS", "WINDOWS_REBOOT_COMMANDS", "issue_reboot", "reboot_commands"]

REBOOT_COMMANDS: Tuple[Tuple[str, ...], ...] = (
    ("systemctl", "reboot"),
    ("shutdown", "-r", "now"),
    ("reboot",),
)
WINDOWS_REBOOT_COMMANDS: Tuple[Tuple[str, ...], ...] = (
    ("shutdown.exe", "/r", "/t", "0", "/d", "p:2:17", "/c", "patchpilot: updates installed"),
)


def reboot_commands() -> List[Sequence[str]]:
    """Return the reboot commands this server has, in order of preference."""
    commands = WINDOWS_REBOOT_COMMANDS if os.name == "nt" else REBOOT_COMMANDS
    return [c for c in commands if shutil.which(c[0])]


def issue_reboot() -> Tuple[Optional[str], List[str]]:
    """Try each reboot command until one is accepted; return it and the failures before it."""
    failures: List[str] = []
    for argv in reboot_commands():
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=60,
            check=False,
        )
        if proc.returncode == 0:
            return " ".join(argv), failures
        failures.append(
            "%s: exit %d %s"
            % (" ".join(argv), proc.returncode, proc.stdout.decode("utf-8", "replace").strip())
        )
    return None, failures
