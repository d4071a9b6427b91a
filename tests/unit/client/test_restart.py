"""`--reboot services` on the client: the plan (what to restart, keep, or reboot for) and the
restarts themselves against a scripted systemctl."""

from typing import Dict, List, Sequence, Tuple

from patchpilot.client.backends.base import StaleReport
from patchpilot.client.replaced import StaleProcess
from patchpilot.client.restart import plan_restarts, restart_services, services_record

TOOL = StaleReport(["cron.service", "gdm.service"], [], "needrestart -b", ["alice @ session #3"])
PROCS = [
    StaleProcess(40, "ssh.service", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
    StaleProcess(41, "cron.service", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
    StaleProcess(50, "atd.service", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
    StaleProcess(60, "session-4.scope", "/usr/bin/bash"),
    StaleProcess(70, "myapp.service", "/opt/app/lib.so"),
]


def test_plan_merges_tool_and_proc_and_keeps_defaults_own_unit_and_no_restart() -> None:
    plan = plan_restarts(TOOL, PROCS, ["libssl3"], ["my*"], "atd.service")
    assert plan.restart == ["cron.service", "ssh.service"]
    assert [k["unit"] for k in plan.kept] == ["atd.service", "gdm.service", "myapp.service"]
    whys = [k["why"] for k in plan.kept]
    assert (whys[0], whys[2]) == ("the patchpilot client runs in it", "--no-restart")
    cron = next(s for s in plan.stale if s["unit"] == "cron.service")
    assert cron["found_by"] == ["needrestart -b", "proc"] and cron["pids"] == [41]
    assert plan.others == [
        "alice @ session #3",
        "pid 60 (session-4.scope) runs /usr/bin/bash",
    ]
    assert plan.reboot_reasons == [] and plan.tool == "needrestart -b"


def test_pid1_kernel_packages_and_tool_reasons_need_a_reboot() -> None:
    tool = StaleReport([], ["needrestart: a CPU microcode update is pending"], "needrestart -b")
    procs = [StaleProcess(1, "init.scope", "/usr/lib/x86_64-linux-gnu/libc.so.6")]
    plan = plan_restarts(tool, procs, ["linux-image-6.1.0-18-amd64", "libc6"], [], "")
    assert plan.reboot_reasons == [
        "needrestart: a CPU microcode update is pending",
        "systemd (PID 1) runs a replaced file: /usr/lib/x86_64-linux-gnu/libc.so.6",
        "linux-image-6.1.0-18-amd64 was upgraded: only a reboot runs it",
    ]
    kernel = plan_restarts(StaleReport(), [], ["kernel-core", "intel-microcode"], [], "")
    assert len(kernel.reboot_reasons) == 2


class Systemctl:
    """systemctl as scripted: units whose restart fails, units that never become active."""

    def __init__(self, refuse: Sequence[str] = (), inactive: Sequence[str] = ()) -> None:
        self.refuse, self.inactive = refuse, inactive
        self.pids: Dict[str, int] = {}
        self.calls: List[Tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> Tuple[int, str]:
        self.calls.append(tuple(argv))
        verb, unit = argv[1], argv[-1]
        if verb == "show":
            return 0, "MainPID=%d" % self.pids.get(unit, 100)
        if verb == "restart":
            if unit in self.refuse:
                return 1, "Job for %s failed." % unit
            self.pids[unit] = self.pids.get(unit, 100) + 1
            return 0, ""
        if verb == "is-active":
            return (3, "activating") if unit in self.inactive else (0, "active")
        return 3, "● %s - failed" % unit


def test_restarts_check_active_and_report_pids_and_failures() -> None:
    systemctl = Systemctl(refuse=["bad.service"], inactive=["slow.service"])
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    events: List[Tuple[str, str]] = []
    results = restart_services(
        ["cron.service", "bad.service", "slow.service"],
        lambda event, level, fields: events.append((event, level)),
        run=systemctl,
        sleep=sleep,
        clock=lambda: clock[0],
    )
    cron, bad, slow = results
    assert (cron["status"], cron["old_pid"], cron["new_pid"]) == ("restarted", 100, 101)
    assert bad["status"] == "failed" and "exited 1: Job for bad.service failed." in str(
        bad["message"]
    )
    assert slow["status"] == "failed" and "not active 10 s after its restart (activating)" in str(
        slow["message"]
    )
    assert "failed" in str(slow["detail"])
    assert events == [
        ("service.restarted", "info"),
        ("service.restart_failed", "error"),
        ("service.restart_failed", "error"),
    ]
    assert 10.0 <= clock[0] < 12.0  # bounded by SETTLE


def test_record_says_why_no_reboot_or_why_one() -> None:
    plan = plan_restarts(TOOL, PROCS, ["libssl3"], [], "atd.service")
    results = [
        {"unit": "cron.service", "status": "restarted", "old_pid": 1, "new_pid": 2},
        {"unit": "ssh.service", "status": "failed", "message": "x", "old_pid": 3, "new_pid": None},
    ]
    record = services_record(plan, results, [])
    assert record["restarted"] == [{"unit": "cron.service", "old_pid": 1, "new_pid": 2}]
    assert record["failed"] == [
        {"unit": "ssh.service", "message": "x", "old_pid": 3, "new_pid": None}
    ]
    assert str(record["reboot"]).startswith("no reboot needed")
    rebooting = services_record(plan, [], ["/var/run/reboot-required"])
    assert str(rebooting["reboot"]).startswith("a reboot is needed: /var/run/reboot-required")
    assert rebooting["restarted"] == [] and rebooting["reboot_reasons"] == [
        "/var/run/reboot-required"
    ]
