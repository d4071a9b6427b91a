"""What the client does differently on Windows; chosen in __init__.py.

msvcrt is imported where it is used, so this module imports anywhere (the zipapp's import test
runs on Linux); typeshed declares msvcrt's functions for win32 only and mypy reads this tree as
Linux, hence the two `type: ignore` comments.
"""

import ntpath
import os
import subprocess
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

if TYPE_CHECKING:
    from patchpilot.client.endpoints.base import Endpoint, Stream

DEFAULT_BACKEND = "wua"  # the Windows Update Agent
PIPES_SELECT = False  # Windows' select() takes sockets only
# A planned restart for an operating-system hot fix (reason p:2:17): the event log says why.
REBOOT_COMMANDS: Tuple[Tuple[str, ...], ...] = (
    ("shutdown.exe", "/r", "/t", "0", "/d", "p:2:17", "/c", "patchpilot: updates installed"),
)


def _data_dir() -> str:
    return os.path.join(os.environ.get("PROGRAMDATA") or "C:\\ProgramData", "patchpilot")


def state_dir(root: str) -> str:
    """Return %ProgramData%\\patchpilot, which the connector's first write keeps to SYSTEM and
    Administrators (root, for POSIX tests, does not apply)."""
    return _data_dir()


def runtime_dir(root: str) -> str:
    """Return the runtime folder (Windows has no /run: a subfolder of the state folder)."""
    return os.path.join(_data_dir(), "run")


def lock_now(fd: int) -> None:
    """Lock fd's first byte without waiting; OSError when another process holds it."""
    import msvcrt

    os.lseek(fd, 0, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]


def is_private(mode: int) -> bool:
    """Say whether a file is private: its ACL, set by the connector, decides; mode bits do not."""
    return True


def powershell() -> str:
    """Return Windows PowerShell's full path: %SystemRoot%\\System32\\WindowsPowerShell\\v1.0.

    The client runs as SYSTEM: a bare `powershell.exe` is whatever the search order finds
    first (the current folder, PATH). A SystemRoot without a drive counts as unset
    (C:\\Windows).
    """
    root = os.environ.get("SYSTEMROOT", "")
    if not (ntpath.isabs(root) and ntpath.splitdrive(root)[0]):
        root = "C:\\Windows"
    return ntpath.join(root, "System32", "WindowsPowerShell", "v1.0", "powershell.exe")


def shell_argv(command: str) -> List[str]:
    """Return the argv that gives command to PowerShell (by its full path) once."""
    return [powershell(), "-NoProfile", "-NonInteractive", "-Command", command]


def new_group() -> Dict[str, Any]:
    """Return Popen's options that start a child in a new process group."""
    return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}


def kill_group(process: "subprocess.Popen[bytes]") -> None:
    """Kill a child started with new_group()."""
    process.kill()


def binary_fds(fds: Sequence[int]) -> None:
    """Stop the C runtime's CRLF translation on descriptors that carry frames."""
    import msvcrt

    for fd in fds:
        msvcrt.setmode(fd, os.O_BINARY)  # type: ignore[attr-defined]


def system_state_known() -> bool:
    """Say whether a service manager's state can be read (not on Windows)."""
    return False


def open_endpoint(socket: str, run_id: str, round_no: int, secret: str) -> "Endpoint":
    """Listen on the round's named pipe (named from run, round and secret; no socket file)."""
    from patchpilot.client.endpoints.pipe import PipeEndpoint, pipe_name

    return PipeEndpoint(pipe_name(run_id, round_no, secret))


def connect_endpoint(socket: str, run_id: str, round_no: int, secret: str) -> "Stream":
    """Connect to a round's named pipe; OSError when no client serves it."""
    from patchpilot.client.endpoints.pipe import connect_pipe, pipe_name

    return connect_pipe(pipe_name(run_id, round_no, secret))
