"""`--reboot services`: restart what runs replaced files; reboot only for what needs it.

Standard library only, Python 3.6+. After a round installs, the services still running old
code are the union of what the package manager's tool lists (needrestart -b, dnf
needs-restarting -s, zypper ps -s: backend.stale()) and what /proc shows (client/replaced.py:
each tool misses cases, and an overlay or btrfs root hides files from needs-restarting).

A reboot is still needed when something a restart cannot renew runs old code: the kernel or
the microcode (needrestart's kernel and microcode status, a kernel or microcode package in
the round), PID 1 (systemd on a replaced libc or libsystemd: needrestart's
"systemd-manager", or /proc/1/maps), plus every reason the backend's reboot_state gives
(/var/run/reboot-required, needs-restarting -r, zypper needs-rebooting, updateinfo). Then no
service is restarted: the reboot renews them all.

Otherwise each service is restarted with systemctl, one at a time, each bounded in time,
and checked active again afterwards (a unit still "activating" or "failed" after
SETTLE seconds failed). Never restarted: the units KEPT names (a restart ends logins,
desktops or the system bus: needrestart's own exclusions), the operator's --no-restart
globs, and the unit the client itself runs in (atd.service with the at launcher).
"""

import fnmatch
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from patchpilot.client.backends.base import Emit, StaleReport
from patchpilot.client.reboot import run_argv
from patchpilot.client.replaced import PID1_UNIT, StaleProcess

__all__ = [
    "KEPT",
    "REBOOT_PACKAGES",
    "RestartPlan",
    "plan_restarts",
    "restart_services",
    "services_record",
]

# Units never restarted (their restart ends logins, the desktop, the system bus, the
# network link or containers): needrestart's override_rc defaults, as globs.
KEPT = (
    "dbus.service",
    "dbus-broker.service",
    "display-manager.service",
    "gdm*.service",
    "greetd.service",
    "kdm.service",
    "lightdm.service",
    "lxdm.service",
    "nodm.service",
    "sddm.service",
    "slim.service",
    "wdm.service",
    "xdm.service",
    "xrdp*.service",
    "getty@*.service",
    "serial-getty@*.service",
    "console-getty.service",
    "container-getty@*.service",
    "autovt@*.service",
    "user@*.service",
    "user-runtime-dir@*.service",
    "systemd-logind.service",
    "elogind.service",
    "emergency.service",
    "rescue.service",
    "NetworkManager*.service",
    "network*.service",
    "ModemManager.service",
    "wpa_supplicant*.service",
    "ifup@*.service",
    "openvpn*.service",
    "docker.service",
    "containerd.service",
    "libvirtd.service",
    "lxc*.service",
    "systemd-nspawn@*.service",
)
# Packages whose upgrade only a reboot brings into use (kernel, microcode), by name glob.
REBOOT_PACKAGES = (
    "linux-image-*",
    "kernel",
    "kernel-core",
    "kernel-default",
    "kernel-rt*",
    "kernel-uek*",
    "intel-microcode",
    "amd64-microcode",
    "microcode_ctl",
    "ucode-*",
)
RESTART_TIMEOUT = 120.0  # seconds one `systemctl restart` may take (start jobs included)
SETTLE = 10.0  # seconds a restarted unit has to be active, and hold it for HOLD
HOLD = 1.0
MAX_RESTARTS = 200  # services restarted in one round at most (the rest are reported)

Runner = Callable[[Sequence[str], float], Tuple[int, str]]


class RestartPlan(NamedTuple):
    """What runs replaced files, and what the round does about it."""

    stale: List[Dict[str, object]]  # each service: unit, found_by, pids, path
    restart: List[str]  # units to restart, in order
    kept: List[Dict[str, str]]  # unit, why it is left alone
    others: List[str]  # processes outside any service (logins, scopes): listed only
    reboot_reasons: List[str]  # what only a reboot renews; non-empty: no restart
    tool: str  # the package manager's tool that was asked ("" when none answered)


def plan_restarts(
    tool: StaleReport,
    procs: Sequence[StaleProcess],
    installed: Sequence[str],
    no_restart: Sequence[str],
    own_unit: str,
) -> RestartPlan:
    """Return the round's plan from the tool's report, the /proc scan and the packages the
    round installed. Pure."""
    by: Dict[str, List[str]] = {unit: [tool.tool or "tool"] for unit in tool.services}
    pids: Dict[str, List[int]] = {}
    paths: Dict[str, str] = {}
    others = list(tool.sessions)
    reasons = list(tool.reasons)
    for proc in procs:
        if proc.unit == PID1_UNIT or proc.pid == 1:
            reasons.append("systemd (PID 1) runs a replaced file: %s" % proc.path)
        elif proc.unit.endswith(".service"):
            found_by = by.setdefault(proc.unit, [])
            found_by.extend([] if "proc" in found_by else ["proc"])
            pids.setdefault(proc.unit, []).append(proc.pid)
            paths.setdefault(proc.unit, proc.path)
        else:
            others.append("pid %d (%s) runs %s" % (proc.pid, proc.unit or "no unit", proc.path))
    reasons += [
        "%s was upgraded: only a reboot runs it" % name
        for name in installed
        if any(fnmatch.fnmatchcase(name, glob) for glob in REBOOT_PACKAGES)
    ]
    restart: List[str] = []
    kept: List[Dict[str, str]] = []
    for unit in sorted(by):
        why = _kept_why(unit, no_restart, own_unit)
        if why:
            kept.append({"unit": unit, "why": why})
        elif len(restart) < MAX_RESTARTS:
            restart.append(unit)
        else:
            kept.append({"unit": unit, "why": "more than %d services to restart" % MAX_RESTARTS})
    stale: List[Dict[str, object]] = [
        {"unit": u, "found_by": by[u], "pids": pids.get(u, []), "path": paths.get(u, "")}
        for u in sorted(by)
    ]
    return RestartPlan(stale, restart, kept, others, _once(reasons), tool.tool)


def _kept_why(unit: str, no_restart: Sequence[str], own_unit: str) -> str:
    if unit == own_unit:
        return "the patchpilot client runs in it"
    if any(fnmatch.fnmatchcase(unit, glob) for glob in no_restart):
        return "--no-restart"
    if any(fnmatch.fnmatchcase(unit, glob) for glob in KEPT):
        return "kept by default: its restart ends logins, the desktop, the bus or the network"
    return ""


def _once(items: Sequence[str]) -> List[str]:
    seen: List[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def main_pid(unit: str, run: Runner = run_argv) -> Optional[int]:
    """Return the unit's main process id, or None (not running, or systemd did not say)."""
    status, output = run(["systemctl", "show", "-p", "MainPID", unit], 30.0)
    value = output.partition("=")[2].strip()
    return int(value) if status == 0 and value.isdigit() and value != "0" else None


def restart_services(
    units: Sequence[str],
    emit: Emit,
    run: Runner = run_argv,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> List[Dict[str, object]]:
    """Restart each unit and check it is active again; return one result per unit:
    unit, status ("restarted" or "failed"), old_pid, new_pid, message."""
    results = []
    for unit in units:
        before = main_pid(unit, run)
        status, output = run(["systemctl", "restart", unit], RESTART_TIMEOUT)
        state = _settled(unit, run, sleep, clock) if status == 0 else ""
        after = main_pid(unit, run)
        result: Dict[str, object] = {"unit": unit, "old_pid": before, "new_pid": after}
        if status == 0 and state == "active":
            result.update(status="restarted", message="")
            emit("service.restarted", "info", result)
        else:
            said = "systemctl restart exited %d: %s" % (status, output) if status else ""
            why = said or "not active %d s after its restart (%s)" % (SETTLE, state or "unknown")
            detail = run(["systemctl", "status", "--no-pager", "-n", "5", unit], 30.0)[1]
            result.update(status="failed", message=why, detail=detail[-2000:])
            emit("service.restart_failed", "error", result)
        results.append(result)
    return results


def _settled(
    unit: str, run: Runner, sleep: Callable[[float], None], clock: Callable[[], float]
) -> str:
    """Return the unit's state once it held "active" for HOLD seconds, or its last state
    when SETTLE seconds passed without that."""
    deadline = clock() + SETTLE
    state = ""
    while True:
        state = run(["systemctl", "is-active", unit], 30.0)[1] or "unknown"
        if state == "active":
            sleep(HOLD)
            state = run(["systemctl", "is-active", unit], 30.0)[1] or "unknown"
            if state == "active":
                return state
        if clock() >= deadline:
            return state
        sleep(0.5)


def services_record(
    plan: RestartPlan, results: Sequence[Dict[str, object]], reasons: Sequence[str]
) -> Dict[str, object]:
    """Return round.result's `services`: what ran replaced files, what was restarted or
    failed to come back, what was left alone, and why the round reboots or does not."""
    restarted = [r for r in results if r["status"] == "restarted"]
    failed = [r for r in results if r["status"] != "restarted"]
    if reasons:
        why = "a reboot is needed: %s; no service restarted (the reboot renews them)" % "; ".join(
            reasons
        )
    else:
        why = (
            "no reboot needed: nothing a restart cannot renew (kernel, microcode, PID 1) runs "
            "replaced files; %d service(s) restarted" % len(restarted)
        )
    return {
        "tool": plan.tool,
        "stale": plan.stale,
        "restarted": [_brief(r) for r in restarted],
        "failed": [_brief(r) for r in failed],
        "kept": plan.kept,
        "others": plan.others[:50],
        "reboot_reasons": list(reasons),
        "reboot": why,
    }


def _brief(result: Dict[str, object]) -> Dict[str, object]:
    return {k: v for k, v in result.items() if k != "status"}
