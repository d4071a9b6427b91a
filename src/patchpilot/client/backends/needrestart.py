"""Debian's needrestart in batch mode (`needrestart -b`): what runs old code, and the kernel.

Standard library only, Python 3.6+. Batch mode lists and never restarts (nor asks):

    NEEDRESTART-VER: 3.6
    NEEDRESTART-KCUR: 6.1.0-13-amd64
    NEEDRESTART-KEXP: 6.1.0-18-amd64
    NEEDRESTART-KSTA: 3
    NEEDRESTART-UCSTA: 2
    NEEDRESTART-SVC: ssh.service
    NEEDRESTART-SVC: systemd-manager
    NEEDRESTART-SESS: alice @ session #3

KSTA (the kernel): 0 unknown, 1 current, 2 an ABI-compatible upgrade pending, 3 a version
upgrade pending; UCSTA (the CPU's microcode): 0 unknown, 1 current, 2 an update pending.
"systemd-manager" is PID 1 on old libraries: only a reboot (or a re-exec) renews it.
"""

from typing import Dict, List, NamedTuple

__all__ = ["NEEDRESTART", "NeedrestartReport", "parse_batch"]

NEEDRESTART = ("needrestart", "-b")
SYSTEMD_MANAGER = "systemd-manager"


class NeedrestartReport(NamedTuple):
    services: List[str]  # systemd units (systemd-manager left out: see reasons)
    reasons: List[str]  # why a reboot is needed: kernel, microcode, PID 1
    sessions: List[str]  # logins on old code ("alice @ session #3"): never restarted


def parse_batch(text: str) -> NeedrestartReport:
    """Return what a `needrestart -b` output says."""
    services: List[str] = []
    reasons: List[str] = []
    sessions: List[str] = []
    values: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if not sep or not key.startswith("NEEDRESTART-"):
            continue
        key, value = key[len("NEEDRESTART-") :], value.strip()
        if key == "SVC" and value == SYSTEMD_MANAGER:
            reasons.append("needrestart: systemd (PID 1) runs replaced libraries")
        elif key == "SVC" and value:
            services.append(value)
        elif key == "SESS" and value:
            sessions.append(value)
        else:
            values[key] = value
    if values.get("KSTA") in ("2", "3"):
        reasons.insert(0, _kernel(values))
    if values.get("UCSTA") == "2":
        reasons.append("needrestart: a CPU microcode update is pending")
    return NeedrestartReport(sorted(set(services)), reasons, sessions)


def _kernel(values: Dict[str, str]) -> str:
    expected = values.get("KEXP")
    newer = " %s" % expected if expected else ""
    return "needrestart: the running kernel %s is not the newest installed%s" % (
        values.get("KCUR", "?"),
        newer,
    )
