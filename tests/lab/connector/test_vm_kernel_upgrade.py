"""A real kernel upgrade on a qemu VM: install it, reboot, run it (what containers cannot show).

The VM image carries Debian bookworm's kernel; the lab repository offers the newer one the
Debian mirror has (Debian's own packages, see `patchpilot.lab.vmimage`). One `patchpilot run`
applies everything, the catalog's two rounds included, so this is also the connector's full
cycle on a VM: the kernel makes the VM need a reboot, the connector reboots it and verifies
the new boot id, and afterwards the running kernel is the newest one installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import records, run

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.vmimage import KERNEL_PACKAGE, mirror_kernels

# A TCG-emulated VM installs and boots a kernel: minutes on a quiet machine, more on a busy one
# (its own run timeout, 1800 s, is the bound that names what hung).
pytestmark = [pytest.mark.lab, pytest.mark.vm, pytest.mark.timeout(2000)]

NEWEST_INSTALLED = "ls /boot/vmlinuz-* | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1"


def test_kernel_upgrade_then_reboot_into_the_new_kernel(lab: Lab, tmp_path: Path) -> None:
    old, new = mirror_kernels()
    if new is None:
        pytest.skip(f"the Debian mirror has one {KERNEL_PACKAGE} only ({old.version})")
    vm = lab.add_vm()
    try:
        assert _kernels(lab, vm.name) == (old.release, old.release)
        before = lab.boot_id(vm.name)
        done = run(lab, vm, tmp_path, "--reboot-timeout", "900", "--run-id", "k", timeout=1800)
        assert done.exit_status == 0, done.stderr
        assert done.installed == {**FINAL_VERSIONS, KERNEL_PACKAGE: new.version}
        rounds, reboots = done.result["rounds"], done.result["reboots"]
        assert rounds[0]["is_rebooted"] and reboots["count"] >= 1
        assert reboots["boot_ids"][0] != before
        assert lab.boot_id(vm.name) == reboots["boot_ids"][-1]
        first = next(r["fields"] for r in records(tmp_path, "k") if r["event"] == "round.result")
        assert first["reboot_required"] and first["will_reboot"]
        reasons = first["reboot_reasons"]
        assert f"kernel {new.release} is installed, {old.release} is running" in reasons
        assert any("reboot-required" in reason and new.package in reason for reason in reasons)
        assert _kernels(lab, vm.name) == (new.release, new.release)
    finally:
        lab.remove_server(vm.name)


def _kernels(lab: Lab, name: str) -> tuple[str, str]:
    """Return the VM's running kernel (`uname -r`) and the newest one in its /boot."""
    running, newest = lab.ssh(name, ["sh", "-c", f"uname -r; {NEWEST_INSTALLED}"]).stdout.split()
    return running, newest
