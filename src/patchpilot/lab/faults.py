"""Faults a lab server suffers, injected for real (bench/faults.py's campaign, tests).

Each fault acts on the server itself: a forced reset (`systemctl reboot --force --force`:
no shutdown), `kill -9` of the client or of the package manager, sshd stopped, the link cut,
a full package cache, the package lock held, the repository unreachable. A fault that lasts
heals itself on the server (a transient `fault-*` unit timer), except the link cut, which only
the lab can restore (the caller's timer). Nothing here knows patchpilot's internals beyond
the client's command line.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

from patchpilot.lab.errors import LabError
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

__all__ = ["SERVER_FAULTS", "Injected", "heal", "inject", "kinds_for"]

_CACHES = {"apt": "/var/cache/apt/archives", "dnf": "/var/cache/dnf", "zypper": "/var/cache/zypp"}
_LOCKS = {
    "apt": "/var/lib/dpkg/lock-frontend",
    "dnf": "/var/lib/rpm/.rpm.lock",
    "zypper": "/var/lib/rpm/.rpm.lock",
}
_APT_PROXY = "/etc/apt/apt.conf.d/99patchpilot-repo-gone"
_HOLD = (
    "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.lockf(f, fcntl.LOCK_EX); "
    "time.sleep(float(sys.argv[2]))"
)

SERVER_FAULTS = (
    "reset",
    "kill-client",
    "kill-package-manager",
    "sshd-stopped",
    "link-cut",
    "disk-full",
    "lock-held",
    "repository-gone",
)


@dataclass(frozen=True)
class Injected:
    """What an injection did: whether it reached the server, and what it found there."""

    kind: str
    is_done: bool
    effect: str


def kinds_for(flavor: str) -> tuple[str, ...]:
    """Return the fault kinds the lab can inject on a server of flavor (apt, dnf, zypper)."""
    if flavor == "zypper":  # zypper reads no proxy the lab can set per server
        return tuple(k for k in SERVER_FAULTS if k != "repository-gone")
    return SERVER_FAULTS


def _later(name: str, seconds: float, command: str) -> str:
    """Return a shell line that runs command on the server in seconds (a transient timer)."""
    quoted = command.replace("'", "'\\''")
    return (
        f"systemd-run --quiet --unit=fault-{name} --on-active={max(1, int(seconds))}s "
        f"/bin/sh -c '{quoted}'"
    )


def _heals(flavor: str) -> str:
    """Return the shell line that undoes every lasting fault (a reset skips the on-server
    timers: this runs once more before the servers are checked)."""
    cache = _CACHES[flavor]
    return (
        f"rm -f {_APT_PROXY}; sed -i '/^proxy=http:..127.0.0.1:9/d' /etc/dnf/dnf.conf "
        f"2>/dev/null; umount -l {cache} 2>/dev/null; systemctl start ssh.service; "
        "systemctl stop 'fault-*.timer' 'fault-*.service' 2>/dev/null; true"
    )


def heal(lab: Lab, server: Server, *, flavor: str) -> None:
    """Undo every lasting fault on server (link, sshd, cache, repository)."""
    lab.restore(server.name)
    with contextlib.suppress(LabError):  # away (a reset under way): its boot heals the rest
        lab.ssh(server.name, ["sh", "-c", _heals(flavor)], check=False, timeout=60)


def _script(kind: str, flavor: str, seconds: float, tag: str) -> str:
    if kind == "reset":
        return "(sleep 0.1; systemctl reboot --force --force) > /dev/null 2>&1 & echo reset"
    if kind == "kill-client":
        return "pkill -9 -e -f '[p]yz run --job' || echo 'no client running'"
    if kind == "kill-package-manager":
        return "pkill -9 -e -x dpkg || pkill -9 -e -x rpm || pkill -9 -e -x zypper || " \
               "pkill -9 -e -f '[b]in/dnf ' || echo 'no package manager running'"  # fmt: skip
    if kind == "sshd-stopped":
        return f"{_later(tag, seconds, 'systemctl start ssh.service')} && " \
               "systemctl stop ssh.service && echo sshd stopped"  # fmt: skip
    if kind == "disk-full":
        cache = _CACHES[flavor]
        fill = (
            f"mkdir -p {cache} && mount -t tmpfs -o size=256k fault-full {cache} && "
            f"mkdir -p {cache}/partial && (dd if=/dev/zero of={cache}/filler bs=4k "
            "2>/dev/null; true)"
        )
        return f"{_later(tag, seconds, f'umount -l {cache}')} && {fill} && echo {cache} full"
    if kind == "lock-held":
        lock = _LOCKS[flavor]
        hold = f'python3 -c "{_HOLD}" {lock} {seconds:.0f}'
        return f"systemd-run --quiet --unit=fault-{tag} {hold} && echo {lock} held"
    if kind == "repository-gone":
        gone = (
            f"echo 'Acquire::http::Proxy \"http://127.0.0.1:9/\";' > {_APT_PROXY}"
            if flavor == "apt"
            else "echo proxy=http://127.0.0.1:9/ >> /etc/dnf/dnf.conf"
        )
        back = _repository_back(flavor)
        return f"{_later(tag, seconds, back)} && {gone} && echo repository unreachable"
    raise ValueError(f"unknown fault kind {kind!r}")


def _repository_back(flavor: str) -> str:
    """Return the shell line that makes the repository reachable again."""
    if flavor == "apt":
        return f"rm -f {_APT_PROXY}"
    return "sed -i '/^proxy=http:..127.0.0.1:9/d' /etc/dnf/dnf.conf"


_HEAL_PATIENCE = 240.0  # seconds the host tries to heal a server that is away (rebooting)


def _heal_from_host(lab: Lab, server: Server, command: str, seconds: float) -> None:
    """Run command on the server after seconds, from the host, until it answers: a reboot
    (a reset, or the round's own) ends the on-server timer with everything else, and the
    repository would stay gone for the rest of the run (apt seeds 21 and 22: a repository
    meant to be away 10 s was away for minutes, round 2 listed updates from stale lists)."""

    def heal_once() -> None:
        deadline = time.monotonic() + _HEAL_PATIENCE
        while time.monotonic() < deadline:
            with contextlib.suppress(LabError):
                done = lab.ssh(server.name, ["sh", "-c", command], check=False, timeout=30)
                if done.returncode == 0:
                    return
            time.sleep(2)

    timer = threading.Timer(seconds, heal_once)
    timer.daemon = True
    timer.start()


def inject(
    lab: Lab, server: Server, kind: str, *, flavor: str, seconds: float, tag: str
) -> Injected:
    """Inject one fault of kind on server, lasting seconds where it lasts; never raises for
    a server that cannot be reached (a cut link, sshd stopped): it says so instead."""
    if kind == "link-cut":
        lab.cut(server.name)
        timer = threading.Timer(seconds, lab.restore, args=(server.name,))
        timer.daemon = True
        timer.start()
        return Injected(kind, True, f"link down for {seconds:.0f} s")
    script = _script(kind, flavor, seconds, tag)
    try:
        done = lab.ssh(server.name, ["sh", "-c", script], check=False, timeout=20)
    except LabError as exc:  # the lab's ssh timed out: not reached
        return Injected(kind, False, f"not reached: {exc}")
    said = " ".join(done.stdout.split())[:120] or done.stderr.strip()[-120:]
    if kind == "repository-gone" and done.returncode == 0:  # the one a reboot does not undo
        _heal_from_host(lab, server, _repository_back(flavor), seconds)
    return Injected(kind, done.returncode == 0 and "no " not in said[:3], said)
