"""The lab's faults last what they were scheduled to last, a reboot in between included."""

from __future__ import annotations

import time

import pytest

from patchpilot.lab.faults import inject
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

PROXY = "/etc/apt/apt.conf.d/99patchpilot-repo-gone"


def test_a_repository_gone_comes_back_after_a_reboot_that_ended_its_timer(
    lab: Lab, lab_server: Server
) -> None:
    # apt seeds 21 and 22: the round's own reboot came 2 s after the fault, its on-server
    # timer died with it, and the repository stayed away for the rest of the run
    name = lab_server.name
    found = inject(lab, lab_server, "repository-gone", flavor="apt", seconds=8, tag="t1")
    assert found.is_done, found.effect
    boot = lab.boot_id(name)
    lab.ssh(name, ["sh", "-c", "(sleep 0.1; systemctl reboot --force --force) "
                   "> /dev/null 2>&1 &"])  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = lab.ssh(name, ["sh", "-c", f"cat /proc/sys/kernel/random/boot_id; ls {PROXY}"],
                       check=False, timeout=20)  # fmt: skip
        lines = done.stdout.split()
        if lines and lines[0] != boot and PROXY not in lines:
            return  # back on a new boot, the repository reachable again
        time.sleep(1)
    raise AssertionError(f"{PROXY} still there 120 s after the reboot: {done.stdout!r}")
