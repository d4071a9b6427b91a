"""The systemd timer recipe (examples/schedulers/) for real: on a lab server acting as the
scheduler host, patchpilot installed from the wheel, the recipe's service and timer units
installed as they are (only the install path and, in a drop-in, the time changed); the timer
fires by itself, the run it starts patches another lab server over SSH, and the journal of
the service holds the run's job output."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from patchpilot.lab.access import ssh_config_text
from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.package import Dist, fresh_venv, pip_install
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1200)]

RECIPES = Path(__file__).resolve().parents[3] / "examples" / "schedulers"
UNITS = Path("etc/systemd/system")


def _copy_in(lab: Lab, server: Server, root: Path) -> None:
    """Copy the tree under root onto the server, at the same paths from its /."""
    archive = subprocess.run(
        ["tar", "-C", str(root), "-cf", "-", "."], capture_output=True, check=True, timeout=120
    ).stdout
    subprocess.run(
        ["ssh", "-F", str(lab.ssh_config_path), "-o", "BatchMode=yes", server.name,
         "tar -xf - -C / --no-same-owner --keep-directory-symlink"],
        input=archive, check=True, timeout=300, capture_output=True,
    )  # fmt: skip


def _show(lab: Lab, server: Server, unit: str, *names: str) -> dict[str, str]:
    argv = ["systemctl", "show", unit, *(f"--property={n}" for n in names)]
    out = lab.ssh(server.name, argv).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _wait_for_exit(lab: Lab, server: Server, unit: str, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = _show(lab, server, unit, "ExecMainExitTimestampMonotonic", "ExecMainStatus",
                      "Result", "ActiveState")  # fmt: skip
        if shown["ExecMainExitTimestampMonotonic"] != "0" and shown["ActiveState"] != "active":
            return shown
        time.sleep(2)
    raise AssertionError(f"{unit} did not run to its end within {timeout} s: {shown}")


def test_the_timer_fires_and_its_run_patches_a_server(
    lab: Lab, patchpilot_dist: Dist, tmp_path: Path
) -> None:
    scheduler, target = lab.add_servers(2)
    try:
        venv = fresh_venv(tmp_path / "patchpilot")
        pip_install(venv, str(patchpilot_dist.wheel))
        tree = tmp_path / "tree"
        (tree / venv.relative_to("/")).parent.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(venv), str(tree / venv.relative_to("/"))], check=True)
        etc = tree / "etc" / "patchpilot"
        etc.mkdir(parents=True)
        for source, name in ((lab.key_path, "id_ed25519"), (lab.known_hosts_path, "known_hosts")):
            (etc / name).write_bytes(source.read_bytes())
            (etc / name).chmod(0o600)
        (etc / "ssh_config").write_text(ssh_config_text(
            [target], Path("/etc/patchpilot/id_ed25519"), Path("/etc/patchpilot/known_hosts")
        ))  # fmt: skip
        units = tree / UNITS
        units.mkdir(parents=True)
        service = (RECIPES / "patchpilot-patch@.service").read_text()
        (units / "patchpilot-patch@.service").write_text(
            service.replace("/opt/patchpilot/bin/", f"{venv}/bin/")
        )
        timer = f"patchpilot-patch@{target.name}.timer"
        (units / "patchpilot-patch@.timer").write_text(
            (RECIPES / "patchpilot-patch@.timer").read_text()
        )
        soon = lab.ssh(scheduler.name, ["date", "-d", "+20 sec", "+%Y-%m-%d %H:%M:%S"]).stdout
        (units / f"{timer}.d").mkdir()
        (units / f"{timer}.d" / "soon.conf").write_text(
            f"[Timer]\nOnCalendar=\nOnCalendar={soon.strip()}\nRandomizedDelaySec=0\n"
            "AccuracySec=1s\n"
        )
        _copy_in(lab, scheduler, tree)
        lab.ssh(scheduler.name, ["systemctl", "daemon-reload"])
        lab.ssh(scheduler.name, ["systemctl", "enable", "--now", timer])
        service_unit = f"patchpilot-patch@{target.name}.service"
        assert _show(lab, scheduler, service_unit, "ActiveState")["ActiveState"] == "inactive"

        ended = _wait_for_exit(lab, scheduler, service_unit, timeout=600)
        assert (ended["Result"], ended["ExecMainStatus"]) == ("success", "0"), ended
        assert _show(lab, scheduler, timer, "LastTriggerUSec")["LastTriggerUSec"] not in ("", "n/a")
        result = json.loads(lab.ssh(
            scheduler.name, ["cat", f"/var/log/patchpilot/{target.name}.json"]).stdout)  # fmt: skip
        installed = {u["id"]: u["version"] for u in result["updates"] if u["status"] == "installed"}
        assert result["status"] == "success" and installed == FINAL_VERSIONS
        assert result["run_id"].startswith("timer-") and result["run_id"].endswith(target.name)
        journal = lab.ssh(
            scheduler.name, ["journalctl", "--no-pager", "-o", "cat", "-u", service_unit]
        ).stdout
        printed = [line for line in journal.splitlines() if line.startswith("{")]
        assert printed and json.loads(printed[-1]) == result, journal[-3000:]  # job output
    finally:
        lab.remove_server(scheduler.name)
        lab.remove_server(target.name)
