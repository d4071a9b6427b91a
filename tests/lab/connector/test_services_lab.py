"""`--reboot services` on real lab servers (issue 24, item 1): a daemon mapping a lab library
gets a new PID when the round upgrades the library, and nothing reboots; a kernel-like package
in the same round still reboots; a service that does not come back fails the run (83).

The daemon is the catalog's `lab-svcd.service` (patchpilot.lab.catalog): it maps
`lab-svc-lib`'s library as code, as a program maps a shared library. On apt servers the client
finds it through /proc (the lab image has no needrestart); on dnf and zypper servers `dnf
needs-restarting -s` or `zypper ps -sss` is asked too (needs-restarting skips files on the
lab's overlay root, whose device is 00:xx, so /proc finds it there as well).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_lab import Run, records, run

from patchpilot.lab.catalog import SVC_UNIT
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab


def _main_pid(lab: Lab, server: Server) -> int:
    shown = lab.ssh(server.name, ["systemctl", "show", "-p", "MainPID", SVC_UNIT]).stdout
    pid = int(shown.strip().partition("=")[2])
    assert pid > 0, shown
    return pid


def _with_daemon(lab: Lab, server: Server) -> tuple[str, int, str | None]:
    """Start lab-svcd on server; return the server's family, the daemon's pid, the boot id."""
    flavor = "apt" if server.flavor == "apt" else "rpm"
    lab.install_opt_in(server, "lab-svcd" if flavor == "apt" else "rpm:lab-svcd")
    return flavor, _main_pid(lab, server), lab.boot_id(server.name)


def _services_run(lab: Lab, server: Server, tmp_path: Path, *args: str, expect: int = 0) -> Run:
    """Run `patchpilot run --reboot services --include lab-svc-lib` with args; check its exit."""
    done = run(
        lab, server, tmp_path, "--reboot", "services", "--include", "lab-svc-lib", *args,
        timeout=400,
    )  # fmt: skip
    assert done.exit_status == expect, done.stderr + done.stdout[-3000:]
    return done


@pytest.fixture
def server(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Server]:
    made = lab.add_server(flavor=request.param)
    try:
        yield made
    finally:
        lab.remove_server(made.name)


@pytest.mark.parametrize("server", ["apt", "dnf", "zypper"], indirect=True)
def test_the_daemon_is_restarted_and_nothing_reboots(
    lab: Lab, server: Server, tmp_path: Path
) -> None:
    flavor, before, boot = _with_daemon(lab, server)
    done = _services_run(lab, server, tmp_path, "--run-id", "svc")
    assert done.installed == {"lab-svc-lib": "2.0" if flavor == "apt" else "2.0-1"}
    after = _main_pid(lab, server)
    assert after != before and lab.boot_id(server.name) == boot
    assert done.result["reboots"]["count"] == 0
    services = done.result["services"]
    restarted = {e["unit"]: e for e in services["restarted"]}
    assert (restarted[SVC_UNIT]["old_pid"], restarted[SVC_UNIT]["new_pid"]) == (before, after)
    assert services["failed"] == []
    assert services["reboot"][0]["why"].startswith("no reboot needed"), services
    stale = next(r for r in records(tmp_path, "svc") if r["event"] == "services.stale")
    found = {s["unit"]: s for s in stale["fields"]["stale"]}
    assert before in found[SVC_UNIT]["pids"]
    # apt: the image has no needrestart, so /proc alone; dnf: needs-restarting may add itself
    assert found[SVC_UNIT]["found_by"][-1] == "proc"
    assert flavor != "apt" or found[SVC_UNIT]["found_by"] == ["proc"]
    assert f"{SVC_UNIT}: restarted (pid {before} -> {after})" in done.stdout.splitlines()
    maps = lab.ssh(server.name, ["cat", f"/proc/{after}/maps"]).stdout
    assert "liblabsvc.so.1" in maps and "(deleted)" not in maps


@pytest.mark.parametrize("server", ["apt", "dnf"], indirect=True)
def test_a_kernel_package_in_the_same_round_still_reboots(
    lab: Lab, server: Server, tmp_path: Path
) -> None:
    flavor, before, boot = _with_daemon(lab, server)
    done = _services_run(lab, server, tmp_path, "--include", "lab-kernel")
    assert set(done.installed) == {"lab-svc-lib", "lab-kernel"}
    assert done.result["reboots"]["count"] == 1 and lab.boot_id(server.name) != boot
    services = done.result["services"]
    assert services["restarted"] == []  # the reboot renewed it
    why = services["reboot"][0]["why"]
    marker = "/var/run/reboot-required" if flavor == "apt" else "lab-kernel"
    assert why.startswith("a reboot is needed") and marker in why, why
    assert _main_pid(lab, server) != before


def test_a_service_that_does_not_come_back_fails_the_run_83(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    _, _, boot = _with_daemon(lab, lab_server)
    drop_in = f"/etc/systemd/system/{SVC_UNIT}.d/broken.conf"
    script = f"mkdir -p {Path(drop_in).parent} && printf '[Service]\\nExecStartPre=/bin/false\\n' "
    lab.ssh(lab_server.name, ["sh", "-c", f"{script}> {drop_in} && systemctl daemon-reload"])
    done = _services_run(lab, lab_server, tmp_path, expect=83)
    assert done.result["status"] == "unhealthy" and lab.boot_id(lab_server.name) == boot
    assert done.installed == {"lab-svc-lib": "2.0"}  # applied, and reported as applied
    (failed,) = done.result["services"]["failed"]
    assert failed["unit"] == SVC_UNIT and "systemctl restart exited" in failed["message"]
    assert f"did not come back after their restart: {SVC_UNIT}" in done.result["errors"][0]


def test_needrestart_installed_when_allowed_finds_the_daemon_too(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    """--install-needrestart: the client installs Debian's needrestart from the server's
    repositories (here the lab's `lab-tools` suite) and asks `needrestart -b` beside /proc."""
    _, before, boot = _with_daemon(lab, lab_server)
    lab.offer_needrestart(lab_server)
    done = _services_run(lab, lab_server, tmp_path, "--install-needrestart", "--run-id", "svcnr")
    assert _main_pid(lab, lab_server) != before and lab.boot_id(lab_server.name) == boot
    journal = records(tmp_path, "svcnr")
    installed = next(r for r in journal if r["event"] == "needrestart.install")
    assert installed["fields"]["exit_status"] == 0, installed
    stale = next(r for r in journal if r["event"] == "services.stale")["fields"]["stale"]
    found = {s["unit"]: s for s in stale}
    assert found[SVC_UNIT]["found_by"] == ["needrestart -b", "proc"], stale
    assert SVC_UNIT in {e["unit"] for e in done.result["services"]["restarted"]}
    assert lab.ssh(lab_server.name, ["test", "-x", "/usr/sbin/needrestart"]).returncode == 0


def test_no_restart_leaves_the_daemon_alone_and_says_so(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    _, before, boot = _with_daemon(lab, lab_server)
    done = _services_run(lab, lab_server, tmp_path, "--no-restart", "lab-svc*")
    assert _main_pid(lab, lab_server) == before and lab.boot_id(lab_server.name) == boot
    services = done.result["services"]
    assert services["restarted"] == [] and services["kept"] == [
        {"unit": SVC_UNIT, "round": 1, "why": "--no-restart"}
    ]
    assert (
        f"{SVC_UNIT} still runs replaced files, not restarted: --no-restart"
        in (done.result["warnings"])
    )
    maps = lab.ssh(lab_server.name, ["cat", f"/proc/{before}/maps"]).stdout
    assert "liblabsvc.so.1 (deleted)" in maps  # still the old library, as reported
