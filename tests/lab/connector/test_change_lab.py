"""Hooks, health checks and the maintenance window on real lab servers (issue 13).

Hooks write what they were told into files (on the target under /var/tmp, which survives the
reboot; locally under the test's folder) and the tests read those files back.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from connector_lab import records, run

from patchpilot.lab.catalog import FINAL_VERSIONS, SLOW_SECONDS_FILE
from patchpilot.lab.debs import PackageSpec
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

BASE = {k: v for k, v in FINAL_VERSIONS.items() if k != "lab-stage2-x"}
TRACE = "/var/tmp/hooks.trace"
# The same line from every hook: point, round, reboot pending, updates applied so far.
LINE = 'echo "$PATCHPILOT_HOOK $PATCHPILOT_ROUND $PATCHPILOT_REBOOT_PENDING '
LINE += '$PATCHPILOT_UPDATES_APPLIED_COUNT $PATCHPILOT_RUN_ID"'


def _versions(lab: Lab, server: Server) -> dict[str, str]:
    shown = lab.ssh(server.name, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "lab-*"])
    return dict(line.split() for line in shown.stdout.splitlines() if line.strip())


def test_failing_pre_hook_leaves_the_server_untouched(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    before = _versions(lab, lab_server)
    boot = lab.boot_id(lab_server.name)
    done = run(
        lab,
        lab_server,
        tmp_path,
        "--hook-pre",
        "echo draining refused >&2; exit 3",
        "--hook-post",
        f"{LINE} >> {TRACE}",
        "--run-id",
        "prefail",
    )
    assert done.exit_status == 81, done.stderr
    assert done.result["status"] == "pre-hook-failed" and done.result["updates"] == []
    hook = done.result["hooks"][0]
    assert (hook["point"], hook["side"], hook["exit"]) == ("pre", "target", 3)
    assert "draining refused" in hook["output"] and "draining refused" in done.result["errors"][0]
    assert _versions(lab, lab_server) == before and lab.boot_id(lab_server.name) == boot
    assert lab.ssh(lab_server.name, ["test", "-e", TRACE], check=False).returncode != 0
    assert not [r for r in records(tmp_path, "prefail") if r["round"] > 0]  # no round launched


def test_hooks_run_at_each_point_in_order_with_their_environment(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    local = tmp_path / "local.trace"
    quoted = tmp_path / "quoted.txt"
    args: list[str] = []
    for point in ("pre", "pre-reboot", "post-reboot", "post"):
        args += [f"--hook-{point}", f"{LINE} >> {TRACE}"]
        args += [f"--local-hook-{point}", f'{LINE} "$PATCHPILOT_TARGET" >> {local}']
    # The operator's shell text arrives once-interpreted: quotes, $ and ; as typed.
    args[1] = f"""{LINE} >> {TRACE}; printf '%s|' "a b" 'c"d' '$HOME;x' > /var/tmp/q"""
    args[3] = f"""printf '%s|' "a b" 'c"d' '$HOME;x' > {quoted}; {LINE} x >> {local}"""
    done = run(lab, lab_server, tmp_path, *args, "--run-id", "hooks", timeout=400)
    assert done.exit_status == 0, done.stderr
    assert done.installed == FINAL_VERSIONS and done.result["reboots"]["count"] >= 1
    on_target = lab.ssh(lab_server.name, ["cat", TRACE]).stdout.split("\n")
    rounds = len(done.result["rounds"])
    applied = len(BASE)
    expected = [
        "pre 1 0 0 hooks",
        f"pre-reboot 1 1 {applied} hooks",
        f"post-reboot 1 0 {applied} hooks",
    ]
    assert on_target[:3] == expected
    assert on_target[-2:] == [f"post {rounds} 0 {len(FINAL_VERSIONS)} hooks", ""]
    assert lab.ssh(lab_server.name, ["cat", "/var/tmp/q"]).stdout == 'a b|c"d|$HOME;x|'
    assert quoted.read_text() == 'a b|c"d|$HOME;x|'
    here = local.read_text().splitlines()
    assert here[0] == "pre 1 0 0 hooks x"
    assert here[1] == f"pre-reboot 1 1 {applied} hooks {lab_server.name}"
    # Going down the local hook runs first (drain), coming back up the target's first.
    points = [(h["point"], h["side"]) for h in done.result["hooks"]]
    assert points[:4] == [
        ("pre", "local"),
        ("pre", "target"),
        ("pre-reboot", "local"),
        ("pre-reboot", "target"),
    ]
    assert points[-2:] == [("post", "target"), ("post", "local")]
    journal = [r for r in records(tmp_path, "hooks") if r["round"] == 0]
    assert [r["event"] for r in journal].count("hook.done") == len(points)


def test_failing_pre_reboot_hook_withholds_the_reboot(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    boot = lab.boot_id(lab_server.name)
    done = run(lab, lab_server, tmp_path, "--local-hook-pre-reboot", "exit 5")
    assert done.exit_status == 82, done.stderr
    assert done.installed == BASE  # applied before the hook: reported as applied
    assert lab.boot_id(lab_server.name) == boot
    assert any("reboot withheld" in w for w in done.result["warnings"])


def test_ready_command_failing_after_the_reboot_fails_the_run(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    done = run(
        lab,
        lab_server,
        tmp_path,
        "--require-service",
        "ssh",
        "--ready-command",
        "echo app not answering; test -e /var/tmp/app-ready",
        "--reboot-timeout",
        "20",
        "--hook-post-reboot",
        f"{LINE} >> {TRACE}",
    )
    assert done.exit_status == 83, done.stderr
    assert done.result["status"] == "unhealthy" and done.result["phase"] == "health"
    assert done.installed == BASE and done.result["reboots"]["count"] == 1
    assert "app not answering" in done.result["errors"][0]
    assert lab.ssh(lab_server.name, ["test", "-e", TRACE], check=False).returncode != 0


def test_health_passes_and_is_checked_once_without_a_reboot(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    done = run(
        lab,
        lab_server,
        tmp_path,
        "--reboot",
        "never",
        "--require-service",
        "ssh",
        "--ready-command",
        "systemctl is-system-running --wait >/dev/null; test -d /usr/share/lab",
    )
    assert done.exit_status == 10, done.stderr
    assert [h["event"] for h in done.result["hooks"]] == ["health.ok"]


def test_deadline_passed_starts_nothing(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    before = _versions(lab, lab_server)
    done = run(lab, lab_server, tmp_path, "--deadline", "+1h", "--cutoff", "2h")
    assert done.exit_status == 84, done.stderr
    assert "round 1 was not started" in done.result["errors"][0]
    assert _versions(lab, lab_server) == before


def test_reboot_after_deadline_deferred(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    lab.install_opt_in(lab_server, "lab-slow")
    lab.ssh(lab_server.name, ["sh", "-c", f"echo 20 > {SLOW_SECONDS_FILE}"])
    boot = lab.boot_id(lab_server.name)
    done = run(lab, lab_server, tmp_path, "--deadline", "+10s", "--reboot-after-deadline", "defer")
    assert done.exit_status == 10, done.stderr  # the round finished; its reboot is pending
    assert done.installed["lab-slow"] == "2.0" and lab.boot_id(lab_server.name) == boot
    assert "a reboot is required but it was withheld" in done.result["warnings"]


def test_held_packages_stay_at_their_version(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    lab.ssh(lab_server.name, ["apt-mark", "hold", "lab-base-c"])
    before = _versions(lab, lab_server)["lab-base-c"]
    done = run(lab, lab_server, tmp_path, "--reboot", "never")
    assert done.exit_status in (0, 10), done.stderr
    statuses = {u["id"]: u["status"] for u in done.result["updates"]}
    assert statuses.pop("lab-base-c") == "held", done.result["updates"]
    assert set(statuses.values()) == {"installed"}, done.result["updates"]
    assert done.result["counts"]["held"] == 1
    assert "lab-base-c is held back on the target" in done.result["warnings"]
    assert _versions(lab, lab_server)["lab-base-c"] == before


def test_failing_post_hook_fails_the_run_and_reports_the_updates(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    done = run(
        lab,
        lab_server,
        tmp_path,
        "--reboot",
        "never",
        "--hook-post",
        "echo re-enable failed; exit 4",
        "--exit-codes",
        "wsus",
    )
    assert done.result["exit_code"] == -1 and done.exit_status == 255, done.stderr
    assert done.result["status"] == "hook-failed" and done.result["phase"] == "hook.post"
    assert "target post hook exited 4: re-enable failed" in done.result["errors"][0]
    assert done.installed == BASE  # applied, and reported as applied


def test_change_record_names_versions_new_dependencies_and_removals(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    """Issue 24 (5): the result, the reports and the job output say what the round changed in
    dpkg's database: lab-chg-app 1.0 -> 2.0, lab-chg-new installed as its new dependency,
    lab-chg-old removed by its Conflicts (names of their own: the session's other servers never
    see them)."""
    lab.repo.publish(PackageSpec("lab-chg-old", "1.0"))
    lab.repo.publish(PackageSpec("lab-chg-new", "1.0"))
    lab.repo.publish(PackageSpec("lab-chg-app", "1.0"))
    lab.ssh(lab_server.name, ["apt-get", "update", "-q"])
    lab.ssh(lab_server.name, ["apt-get", "install", "-y", "-q", "lab-chg-app", "lab-chg-old"])
    lab.repo.publish(
        PackageSpec("lab-chg-app", "2.0", depends=("lab-chg-new",), conflicts=("lab-chg-old",))
    )
    csv_report = tmp_path / "report.csv"
    done = run(
        lab, lab_server, tmp_path, "--include", "lab-chg-app", "--reboot", "never",
        "--report", str(csv_report),
    )  # fmt: skip
    assert done.exit_status == 0, done.stderr + done.stdout[-2000:]
    (app,) = done.result["updates"]
    assert (app["id"], app["status"], app["from_version"], app["version"]) == (
        "lab-chg-app", "installed", "1.0", "2.0",
    )  # fmt: skip
    changes = done.result["changes"]
    assert changes["upgraded"] == [{"id": "lab-chg-app", "from": "1.0", "to": "2.0", "round": 1}]
    assert changes["installed"] == [{"id": "lab-chg-new", "version": "1.0", "round": 1}]
    assert changes["removed"] == [{"id": "lab-chg-old", "version": "1.0", "round": 1}]
    query = ["dpkg-query", "-W", "-f", "${Package}\\t${db:Status-Abbrev}${Version}\\n", "lab-chg-*"]
    shown = lab.ssh(lab_server.name, query).stdout.splitlines()
    states = dict(line.split("\t") for line in shown)
    assert states["lab-chg-app"] == "ii 2.0" and states["lab-chg-new"] == "ii 1.0", states
    assert not states.get("lab-chg-old", "").startswith("ii"), states  # removed
    lines = done.stdout.splitlines()
    assert "lab-chg-app: installed 1.0 -> 2.0" in lines
    assert "lab-chg-new: installed as a dependency 1.0" in lines
    assert "lab-chg-old: removed (was 1.0)" in lines
    rows = list(csv.DictReader(io.StringIO(csv_report.read_text())))
    by_update = {r["update"]: r for r in rows}
    assert (by_update["lab-chg-app"]["installed_version"], by_update["lab-chg-app"]["version"]) == (
        "1.0", "2.0",
    )  # fmt: skip
    assert by_update["lab-chg-new"]["update_status"] == "dependency"
    assert by_update["lab-chg-old"]["update_status"] == "removed"
