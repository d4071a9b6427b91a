"""What both apt paths share on the system: environment, lock wait, dpkg repair, statuses, reboot.

apt and dpkg are told never to prompt (DEBIAN_FRONTEND=noninteractive, keep old conffiles,
needrestart in list mode). python-apt does not wait for the dpkg lock, and apt-get only when
asked, so the wait is done here: probe the lock files until a deadline, naming the holder
from /proc/locks.
"""

import errno
import fcntl
import glob
import os
import subprocess
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set

from patchpilot.client.backends.aptparse import (
    PackageStatus,
    kernel_reason,
    parse_dpkg_status,
    parse_proc_locks,
)
from patchpilot.client.backends.base import Emit, LockTimeout, RebootState

__all__ = [
    "APT_ENV",
    "DPKG_OPTIONS",
    "TOOL_TIMEOUT",
    "Command",
    "LockTimeout",
    "dpkg_inventory",
    "dpkg_statuses",
    "held_packages",
    "patiently",
    "reboot_state",
    "repair_dpkg",
    "run_command",
    "run_tool",
    "wait_for_locks",
]

APT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
    "NEEDRESTART_MODE": "l",
    "APT_LISTCHANGES_FRONTEND": "none",
    "UCF_FORCE_CONFFOLD": "1",
    "LC_ALL": "C",
}
DPKG_OPTIONS = ("--force-confdef", "--force-confold")
LOCK_FILES = (
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
)
_PRESENT = ("i", "U", "F", "W", "t", "H")  # db:Status-Abbrev's second letter: on disk, any state
_STATUS_FORMAT = "${Package}\\t${Version}\\t${db:Status-Abbrev}\\n"
_REPORT_EVERY = 30.0


class Command(NamedTuple):
    argv: Sequence[str]
    returncode: int
    output: str  # stdout and stderr, interleaved


def run_command(argv: Sequence[str], timeout: Optional[float] = None) -> Command:
    """Run argv without a terminal or stdin, in apt's non-interactive environment."""
    env = dict(os.environ)
    env.update(APT_ENV)
    proc = subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        timeout=timeout,
        check=False,
    )
    return Command(tuple(argv), proc.returncode, proc.stdout.decode("utf-8", "replace"))


TOOL_TIMEOUT = 300.0  # seconds a listing tool (needrestart, needs-restarting) may take


def run_tool(argv: Sequence[str], timeout: float = TOOL_TIMEOUT) -> Optional[Command]:
    """Run a tool whose answer is advice, not the round's work: None when it is missing or
    took longer than timeout seconds (the round goes on without it)."""
    try:
        return run_command(argv, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _proc_locks() -> Optional[Dict[int, int]]:
    """Return inode -> pid of the locks the kernel lists, or None when /proc/locks is unreadable."""
    try:
        with open("/proc/locks", encoding="utf-8") as handle:
            return parse_proc_locks(handle.read())
    except OSError:
        return None


def _is_held(path: str) -> bool:
    """Say whether another process holds the lock on path.

    /proc/locks is asked first, which takes nothing: only when it lists the file's inode is
    the lock probed (taken and dropped at once), since an apt starting in that instant without
    a lock timeout would fail.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False  # missing or unreadable: nobody can hold it for us to wait on
    try:
        locks = _proc_locks()
        if locks is not None and os.fstat(fd).st_ino not in locks:
            return False
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)  # closing drops the probe lock
    return False


def _holder(path: str) -> Dict[str, object]:
    try:
        pid = (_proc_locks() or {}).get(os.stat(path).st_ino)
    except OSError:
        pid = None
    command = ""
    if pid and pid > 0:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            command = ""
    return {"lock": path, "pid": pid, "command": command}


def _pid_file_holder(path: str) -> Optional[int]:
    """Return the live process a pid-file lock names (dnf's, zypper's), or None."""
    try:
        with open(path, encoding="ascii") as handle:
            pid = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid > 0 and os.path.exists("/proc/%d" % pid) else None


def _pid_holder(path: str, pid: int) -> Dict[str, object]:
    command = ""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        pass
    return {"lock": path, "pid": pid, "command": command}


def _held_lock(files: Sequence[str], pid_files: Sequence[str]) -> Optional[Dict[str, object]]:
    """Return the first held lock with its holder, or None when all are free."""
    for path in files:
        if _is_held(path):
            return _holder(path)
    for path in pid_files:
        pid = _pid_file_holder(path)
        if pid is not None and pid != os.getpid():
            return _pid_holder(path, pid)
    return None


def wait_for_locks(
    deadline: float,
    emit: Emit,
    files: Sequence[str] = LOCK_FILES,
    pid_files: Sequence[str] = (),
) -> None:
    """Wait until no lock is held; raise LockTimeout at deadline (time.monotonic).

    files are fcntl locks (dpkg's, apt's, rpm's); pid_files name their holder's pid (dnf's,
    zypper's). The defaults are apt's and dpkg's.
    """
    reported: Optional[float] = None  # monotonic time starts near 0 in a fresh time namespace
    while True:
        holder = _held_lock(files, pid_files)
        if holder is None:
            return
        now = time.monotonic()
        if now >= deadline:
            raise LockTimeout("the lock %s is still held: %s" % (holder["lock"], holder))
        if reported is None or now - reported >= _REPORT_EVERY:
            fields = dict(holder)
            fields["waited_until"] = round(deadline - now)
            emit("lock.waiting", "warning", fields)
            reported = now
        time.sleep(0.5)


REFRESH_PATIENCE = 60.0  # seconds a failing refresh of the repositories is tried again
_REFRESH_AGAIN = 5.0


def patiently(attempt: Callable[[], bool], patience: float = REFRESH_PATIENCE) -> bool:
    """Call attempt until it returns True or patience seconds passed; return the last answer.

    A repository that is away for a moment (a proxy restarting, a link cut) would otherwise
    leave the round on stale lists, blind to what was published since: the updates a
    servicing reboot enables (found by the fault campaign, docs/reliability.md)."""
    deadline = time.monotonic() + patience
    while not attempt():
        if time.monotonic() + _REFRESH_AGAIN > deadline:
            return False
        time.sleep(_REFRESH_AGAIN)
    return True


def _needs_repair() -> List[str]:
    reasons = []
    updates = "/var/lib/dpkg/updates"
    if os.path.isdir(updates) and os.listdir(updates):
        reasons.append("dpkg was interrupted (/var/lib/dpkg/updates is not empty)")
    audit = run_command(["dpkg", "--audit"])
    if audit.output.strip():
        reasons.append("dpkg --audit: " + " ".join(audit.output.split())[:300])
    return reasons


def repair_dpkg(emit: Emit) -> None:
    """Finish what an interrupted dpkg left: `dpkg --configure -a`, then `apt-get -f install`
    when dpkg still reports broken packages, then a reinstall of those dpkg marks
    reinst-required (a reset in their unpack: the first two refuse them, exit 1 and 100)."""
    reasons = _needs_repair()
    steps = (
        lambda: ["dpkg", "--configure", "-a", *DPKG_OPTIONS],
        lambda: ["apt-get", "-f", "install", "-y", "-q", *_apt_dpkg_options()],
        _reinstall_required,
    )  # type: Sequence[Callable[[], Optional[List[str]]]]
    for step in steps:
        argv = step() if reasons else None
        if argv is None:
            continue
        done = run_command(argv)
        level = "info" if done.returncode == 0 else "warning"
        emit(
            "dpkg.repair",
            level,
            {
                "reasons": reasons,
                "command": " ".join(argv),
                "exit_status": done.returncode,
                "output": done.output[-2000:],
            },
        )
        reasons = _needs_repair()


def _reinstall_required() -> Optional[List[str]]:
    """Return `apt-get install --reinstall` of the packages dpkg marks reinst-required, or
    None when there is none."""
    done = run_command(["dpkg-query", "-W", "-f", _STATUS_FORMAT])
    statuses = parse_dpkg_status(done.output)
    names = sorted(name for name, status in statuses.items() if status.status[2:3] == "R")
    if not names:
        return None
    return ["apt-get", "install", "--reinstall", "-y", "-q", *_apt_dpkg_options(), *names]


def _apt_dpkg_options() -> List[str]:
    options = []  # type: List[str]
    for option in DPKG_OPTIONS:
        options += ["-o", "Dpkg::Options::=" + option]
    return options


def held_packages() -> Set[str]:
    """Return the packages on hold (`apt-mark showhold`)."""
    return set(run_command(["apt-mark", "showhold"]).output.split())


def dpkg_inventory() -> Dict[str, str]:
    """Return name -> version of every package dpkg has installed (unpacked or configured)."""
    done = run_command(["dpkg-query", "-W", "-f", _STATUS_FORMAT])
    statuses = parse_dpkg_status(done.output)
    return {name: s.version for name, s in statuses.items() if s.status[1:2] in _PRESENT}


def dpkg_statuses(names: Sequence[str]) -> Dict[str, PackageStatus]:
    """Return the dpkg status of each named package that dpkg knows."""
    if not names:
        return {}
    done = run_command(["dpkg-query", "-W", "-f", _STATUS_FORMAT, *names])
    return parse_dpkg_status(done.output)


def reboot_state() -> RebootState:
    """Read /run/reboot-required(.pkgs) and compare the newest /boot kernel with the running one."""
    reasons = []
    if os.path.exists("/var/run/reboot-required"):
        packages = _read_lines("/var/run/reboot-required.pkgs")
        reasons.append(
            "/var/run/reboot-required"
            + (" (packages: %s)" % ", ".join(packages) if packages else "")
        )
    kernels = [p[len("/boot/vmlinuz-") :] for p in glob.glob("/boot/vmlinuz-*")]
    kernel = kernel_reason(os.uname().release, kernels)
    if kernel:
        reasons.append(kernel)
    return RebootState(bool(reasons), reasons)


def _read_lines(path: str) -> List[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return sorted({line.strip() for line in handle if line.strip()})
    except OSError:
        return []
