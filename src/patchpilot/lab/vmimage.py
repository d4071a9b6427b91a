"""The VM's disk image (built once, cached) and what the host does to a VM's own disk.

The image is the same Debian recipe as the containers' base plus `linux-image-cloud-amd64`,
packed into a raw ext4 file system with `mkfs.ext4 -d` (no loop devices, no partitions).
Each VM gets a sparse copy; its identity is written in with `debugfs` before the first boot,
and before every boot the host reads the newest kernel and initrd from the VM's own /boot, so
a VM that installs a new kernel reboots into it (the host plays the boot loader).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from patchpilot.lab.base import (
    BASE_PACKAGES,
    DEFAULT_CACHE,
    base_key,
    cached_build,
    customize,
    debootstrap,
    mirror_url,
)
from patchpilot.lab.errors import LabError
from patchpilot.lab.tools import run

__all__ = [
    "GUEST_ADDRESS",
    "BootFiles",
    "ensure_vm_image",
    "newest_kernel",
    "newest_version",
    "seed_disk",
]

KERNEL_PACKAGE = "linux-image-cloud-amd64"
IMAGE_SIZE = "3G"
DISK = "disk.raw"
GUEST_ADDRESS = "10.0.2.15"
VM_FILES = {
    "etc/fstab": "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n",
    "etc/systemd/network/10-lab.network": (
        f"[Match]\nName=en* eth*\n\n[Network]\nAddress={GUEST_ADDRESS}/24\nLinkLocalAddressing=no\n"
    ),
}
VM_ENABLED = {
    "systemd-networkd.service": "multi-user.target.wants",
    "systemd-networkd.socket": "sockets.target.wants",
}
VM_MASKED = ("systemd-networkd-wait-online.service", "serial-getty@.service")


class BootFiles:
    """The kernel and initrd a VM boots next, copied out of its disk."""

    def __init__(self, directory: Path, version: str) -> None:
        self.version = version
        self.kernel = directory / "vmlinuz"
        self.initrd = directory / "initrd.img"


def ensure_vm_image(cache: Path = DEFAULT_CACHE, *, rebuild: bool = False) -> Path:
    """Return the cached VM disk image (raw ext4), building it first when needed (~2 min)."""
    mirror = mirror_url()
    key = f"{base_key(mirror)}-{KERNEL_PACKAGE}-{IMAGE_SIZE}-{sorted(VM_FILES.items())}"

    def build(staging: Path) -> None:
        staging.mkdir()
        rootfs = staging / "rootfs"
        debootstrap(rootfs, mirror, (*BASE_PACKAGES, KERNEL_PACKAGE))
        customize(rootfs)
        _make_vm(rootfs)
        run(["mkfs.ext4", "-q", "-L", "labroot", "-d", rootfs, staging / DISK, IMAGE_SIZE])
        run(["rm", "-rf", "--one-file-system", rootfs])

    name = f"lab-vm-{_short_hash(key)}"
    return cached_build(cache, name, build, rebuild=rebuild) / DISK


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _make_vm(rootfs: Path) -> None:
    for relative, content in VM_FILES.items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    units = rootfs / "etc/systemd/system"
    for unit, wants in VM_ENABLED.items():
        (units / wants).mkdir(parents=True, exist_ok=True)
        (units / wants / unit).symlink_to(f"/lib/systemd/system/{unit}")
    for unit in VM_MASKED:
        (units / unit).symlink_to("/dev/null")


def seed_disk(disk: Path, files: Mapping[str, tuple[str, int]]) -> None:
    """Write files (guest path -> (content, mode)) into a stopped VM's disk with debugfs."""
    with tempfile.TemporaryDirectory(prefix="lab-seed-") as tmp:
        commands = []
        for number, (guest, (content, mode)) in enumerate(files.items()):
            source = Path(tmp) / str(number)
            source.write_text(content)
            source.chmod(mode)
            commands += [f"rm /{guest}", f"write {source} /{guest}"]
        script = Path(tmp) / "commands"
        script.write_text("\n".join(commands) + "\n")
        run(["debugfs", "-w", "-f", script, disk])


def newest_kernel(disk: Path, directory: Path) -> BootFiles:
    """Copy the newest kernel and its initrd out of a stopped VM's /boot into directory."""
    version = newest_version(run(["debugfs", "-R", "ls -p /boot", disk]).stdout)
    if version is None:
        raise LabError(f"no kernel in /boot of {disk}")
    boot = BootFiles(directory, version)
    run(["debugfs", "-R", f"dump /boot/vmlinuz-{version} {boot.kernel}", disk])
    run(["debugfs", "-R", f"dump /boot/initrd.img-{version} {boot.initrd}", disk])
    if not boot.initrd.exists() or boot.initrd.stat().st_size == 0:
        raise LabError(f"no initrd for kernel {version} in {disk}")
    return boot


def newest_version(listing: str) -> str | None:
    """Return the newest kernel version in a `debugfs ls -p /boot` listing (None if none)."""
    names = [field for line in listing.splitlines() for field in line.split("/") if field]
    versions = [name.removeprefix("vmlinuz-") for name in names if name.startswith("vmlinuz-")]
    return max(versions, key=_version_key) if versions else None


def _version_key(version: str) -> list[int]:
    return [int(part) for part in re.findall(r"\d+", version)]
