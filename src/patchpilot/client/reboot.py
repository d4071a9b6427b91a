"""Reboot the target with whatever it has: `systemctl reboot`, `shutdown -r now`, `reboot`.

A command's exit status 0 is not proof that the reboot is under way: systemctl asks logind,
which asks PID 1, and under load either may time out after the job was (or was not) queued.
So after each command, on a systemd server, the client watches `systemctl is-system-running`
for up to TAKE_EFFECT seconds: "stopping" means the shutdown has begun (it soon ends this
process); a system still up ("running", "degraded", "starting"...) means the request was
lost, and the next command is tried. A command that times out may still have queued the
job, so the state is checked then too. Without systemd (or on Windows) the exit status is
all there is.

On Windows: `shutdown.exe /r /t 0`, recorded as a planned restart for an operating-system
hot fix (reason p:2:17), so the event log says why the server restarted.
"""

import shutil
import subprocess
import time
from typing import Callable, List, Optional, Sequence, Tuple

from patchpilot.client.platforms import REBOOT_COMMANDS, system_state_known

__all__ = [
    "REBOOT_COMMANDS",
    "TAKE_EFFECT",
    "issue_reboot",
    "reboot_commands",
    "run_argv",
    "system_state",
]

TAKE_EFFECT = 60.0  # seconds a shutdown may take to begin once requested (slow under load)
COMMAND_TIMEOUT = 60.0
_UP_STATES = ("initializing", "starting", "running", "degraded", "maintenance")

Runner = Callable[[Sequence[str]], Tuple[int, str]]
StateReader = Callable[[], Optional[str]]


def reboot_commands() -> List[Sequence[str]]:
    """Return the reboot commands this server has, in order of preference."""
    return [c for c in REBOOT_COMMANDS if shutil.which(c[0])]


def run_argv(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> Tuple[int, str]:
    """Run a system command (reboot, systemctl); return its exit status (-1: no answer in
    timeout seconds, 127: not found) and its output."""
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, "no answer in %d s" % timeout
    except OSError as exc:
        return 127, str(exc)
    return proc.returncode, proc.stdout.decode("utf-8", "replace").strip()


def system_state() -> Optional[str]:
    """Return systemd's `is-system-running` answer; None without systemd (nothing to check)."""
    if not system_state_known() or not shutil.which("systemctl"):
        return None
    try:
        proc = subprocess.run(
            ["systemctl", "is-system-running"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.decode("utf-8", "replace").strip() or "unknown"


def _still_up(
    state: StateReader,
    wait: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Optional[str]:
    """Return the up state the system kept for wait seconds, or None once a shutdown shows."""
    deadline = clock() + wait
    while True:
        now = state()
        if now is None or now not in _UP_STATES:
            return None  # stopping (or no systemd, or no answer: the shutdown is under way)
        if clock() >= deadline:
            return now
        sleep(1.0)


def issue_reboot(
    *,
    commands: Optional[Sequence[Sequence[str]]] = None,
    run: Runner = run_argv,
    state: StateReader = system_state,
    wait: float = TAKE_EFFECT,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Tuple[Optional[str], List[str]]:
    """Try each reboot command until one takes effect; return it and the failures before it."""
    failures: List[str] = []
    for argv in reboot_commands() if commands is None else commands:
        command = " ".join(argv)
        status, output = run(argv)
        if status not in (0, -1):
            failures.append("%s: exit %d %s" % (command, status, output))
            continue
        up = _still_up(state, wait, sleep, clock)
        if up is None:
            return command, failures
        said = "exit 0" if status == 0 else output
        failures.append("%s: %s, but the system is still %s after %d s" % (command, said, up, wait))
    return None, failures
