"""What the client does differently on Linux (and other POSIX systems); chosen in __init__.py."""

import fcntl
import os
import signal
import subprocess
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

if TYPE_CHECKING:
    from patchpilot.client.endpoints.base import Endpoint, Stream

DEFAULT_BACKEND = "auto"  # dnf5, dnf or zypper where rpm manages the system, else apt
PIPES_SELECT = True  # select() waits on pipes
REBOOT_COMMANDS: Tuple[Tuple[str, ...], ...] = (
    ("systemctl", "reboot"),
    ("shutdown", "-r", "now"),
    ("reboot",),
)


def state_dir(root: str) -> str:
    """Return the client's state folder; root (tests only) moves it under one folder."""
    return root + "/var/lib/patchpilot"


def runtime_dir(root: str) -> str:
    """Return the client's runtime folder (emptied by a reboot)."""
    return root + "/run/patchpilot"


def lock_now(fd: int) -> None:
    """flock fd without waiting; OSError when another process holds it."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def is_private(mode: int) -> bool:
    """Say whether a file's mode keeps it to its owner (root)."""
    return not mode & 0o077


def shell_argv(command: str) -> List[str]:
    """Return the argv that gives command to the system's shell once."""
    return ["/bin/sh", "-c", command]


def new_group() -> Dict[str, Any]:
    """Return Popen's options that start a child in its own session, so all it starts can end."""
    return {"start_new_session": True}


def kill_group(process: "subprocess.Popen[bytes]") -> None:
    """Kill a child started with new_group() and everything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()


def binary_fds(fds: Sequence[int]) -> None:
    """Make descriptors carry bytes unchanged (they already do here)."""


def system_state_known() -> bool:
    """Say whether systemd runs this system, so `systemctl is-system-running` means something."""
    return os.path.isdir("/run/systemd/system")


def open_endpoint(socket: str, run_id: str, round_no: int, secret: str) -> "Endpoint":
    """Listen for log connections on the Unix socket in the round folder."""
    from patchpilot.client.endpoints.unix import UnixEndpoint

    return UnixEndpoint(socket)


def connect_endpoint(socket: str, run_id: str, round_no: int, secret: str) -> "Stream":
    """Connect to a round's Unix socket; OSError when no client serves it."""
    from patchpilot.client.endpoints.unix import connect_unix

    return connect_unix(socket)
