"""A qemu VM server: boots the kernel installed on its own disk, reboots for real."""

from __future__ import annotations

import pytest

from patchpilot.lab import SUDO_USER, Lab

pytestmark = [pytest.mark.lab, pytest.mark.vm]

VM_TIMEOUT = 480.0


def test_vm_runs_its_installed_kernel_reboots_and_reaches_the_repo(lab: Lab) -> None:
    vm = lab.add_vm()
    try:
        assert vm.kind == "vm" and vm.address == "127.0.0.1"
        facts = lab.ssh(
            vm.name,
            ["sh", "-c", "hostname; uname -r; ls /boot; cat /proc/sys/kernel/random/boot_id"],
        ).stdout.split()
        hostname, running, *boot, boot_id = facts
        assert hostname == vm.name
        assert f"vmlinuz-{running}" in boot
        as_user = lab.ssh(vm.name, ["sh", "-c", "id -un; sudo -n id -un"], user=SUDO_USER)
        assert as_user.stdout.split() == [SUDO_USER, "root"]  # the lab key logs in as patcher
        new_boot = lab.reboot(vm.name, timeout=VM_TIMEOUT)
        assert new_boot is not None and new_boot != boot_id
        uptime = lab.ssh(vm.name, ["cut", "-d.", "-f1", "/proc/uptime"]).stdout
        assert int(uptime) < VM_TIMEOUT
        lab.ssh(vm.name, ["apt-get", "update", "-qq"], timeout=VM_TIMEOUT)
        policy = lab.ssh(vm.name, ["apt-cache", "policy", "lab-base-a"]).stdout
        assert "Candidate: 2.0" in policy
    finally:
        lab.remove_server(vm.name)
