"""The VM's disk image (built once, cached) and what the host does to a VM's own disk.

The image is the same Debian recipe as the containers' base plus `linux-image-cloud-amd64`
(the version in Debian's `bookworm` suite) and `unattended-upgrades` (whose kernel hook marks
/var/run/reboot-required, as on a stock Debian server), packed into a raw ext4 file system
with `mkfs.ext4 -d` (no loop devices, no partitions). Each VM gets a sparse copy; its identity
is written in with `debugfs` before the first boot, and before every boot the host reads the
newest kernel and initrd from the VM's own /boot, so a VM that installs a new kernel reboots
into it (the host plays the boot loader).

When the mirror has a newer kernel than the image's (bookworm-updates or bookworm-security),
its real Debian packages are downloaded once (`apt-get download`, cached like the image) and
the lab repository offers them to its VMs: a kernel upgrade and a reboot into a new kernel.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path

from patchpilot.client.backends.debversion import compare_versions
from patchpilot.lab.base import (
    BASE_PACKAGES,
    DEFAULT_CACHE,
    SUITE,
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
    "KERNEL_PACKAGE",
    "BootFiles",
    "Kernel",
    "ensure_kernel_update",
    "ensure_vm_image",
    "kernel_update",
    "mirror_kernels",
    "newest_kernel",
    "newest_version",
    "seed_disk",
]

KERNEL_PACKAGE = "linux-image-cloud-amd64"
VM_PACKAGES = ("unattended-upgrades",)
UPDATE_SUITES = (SUITE, f"{SUITE}-updates", f"{SUITE}-security")
IMAGE_SIZE = "3G"
DISK = "disk.raw"
GUEST_ADDRESS = "10.0.2.15"
VM_FILES = {
    "etc/fstab": "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n",
    "etc/systemd/network/10-lab.network": (
        f"[Match]\nName=en* eth*\n\n[Network]\nAddress={GUEST_ADDRESS}/24\nLinkLocalAddressing=no\n"
    ),
    # Written after the image's own initrd is made (on the host, where `dep` would see the
    # host's devices): a kernel the VM installs gets an initrd of the modules its disk needs,
    # a documented Debian choice that halves update-initramfs under emulation (~50 s, not 2 min).
    "etc/initramfs-tools/conf.d/lab.conf": "MODULES=dep\n",
}
VM_ENABLED = {
    "systemd-networkd.service": "multi-user.target.wants",
    "systemd-networkd.socket": "sockets.target.wants",
}
VM_MASKED = (
    "systemd-networkd-wait-online.service",
    "serial-getty@.service",
    "unattended-upgrades.service",
)


@dataclass(frozen=True)
class Kernel:
    """One version of Debian's kernel metapackage and the kernel package it depends on."""

    version: str  # of linux-image-cloud-amd64, e.g. 6.1.176-1
    package: str  # e.g. linux-image-6.1.0-50-cloud-amd64
    suite: str  # the mirror's suite that has it, e.g. bookworm-security

    @property
    def release(self) -> str:
        """What `uname -r` says when this kernel runs (6.1.0-50-cloud-amd64)."""
        return self.package.removeprefix("linux-image-")


def mirror_kernels() -> tuple[Kernel, Kernel | None]:
    """Return the image's kernel (bookworm's) and a newer one the mirror has (or None).

    Only what a bookworm server gets counts (bookworm, bookworm-updates, bookworm-security),
    not backports.

    Read from this machine's apt (Debian's mirror; `apt-get update` first), so the image's
    cache key follows the kernel version.
    """
    madison = run(["apt-cache", "madison", KERNEL_PACKAGE], check=False).stdout
    versions = [
        (fields[1], suite)
        for line in madison.splitlines()
        if len(fields := [field.strip() for field in line.split("|")]) == 3
        and len(fields[2].split()) > 1
        and (suite := fields[2].split()[1].split("/")[0]) in UPDATE_SUITES
    ]
    image = [version for version, suite in versions if suite == SUITE]
    if not image:
        raise LabError(
            f"this machine's apt knows no {KERNEL_PACKAGE} in Debian {SUITE}: "
            "the VM image needs it (`apt-get update`, with a Debian bookworm mirror configured)"
        )
    newest = max((version for version, _ in versions), key=cmp_to_key(compare_versions))
    old = _kernel(image[0], SUITE)
    if compare_versions(newest, old.version) <= 0:
        return old, None
    return old, _kernel(newest, next(suite for version, suite in versions if version == newest))


def _kernel(version: str, suite: str) -> Kernel:
    shown = run(["apt-cache", "show", f"{KERNEL_PACKAGE}={version}"]).stdout
    for line in shown.splitlines():
        if line.startswith("Depends:"):
            return Kernel(version, line.split(":", 1)[1].split(",")[0].split()[0], suite)
    raise LabError(f"{KERNEL_PACKAGE} {version} depends on no kernel package")


class BootFiles:
    """The kernel and initrd a VM boots next, copied out of its disk."""

    def __init__(self, directory: Path, version: str) -> None:
        self.version = version
        self.kernel = directory / "vmlinuz"
        self.initrd = directory / "initrd.img"


def ensure_vm_image(cache: Path = DEFAULT_CACHE, *, rebuild: bool = False) -> Path:
    """Return the cached VM disk image (raw ext4), building it first when needed (~2 min).

    The newer kernel the lab repository offers (if any) is downloaded too, once.
    """
    mirror = mirror_url()
    kernel, update = mirror_kernels()
    packages = (*BASE_PACKAGES, KERNEL_PACKAGE, kernel.package, *VM_PACKAGES)
    key = (
        f"{base_key(mirror)}-{packages}-{kernel}-{IMAGE_SIZE}-{sorted(VM_FILES.items())}"
        f"-{VM_MASKED}"
    )

    def build(staging: Path) -> None:
        staging.mkdir()
        rootfs = staging / "rootfs"
        debootstrap(rootfs, mirror, packages)
        query = ["dpkg-query", "-W", "-f", "${Version}", KERNEL_PACKAGE]
        if (installed := run(["chroot", str(rootfs), *query]).stdout) != kernel.version:
            raise LabError(
                f"the mirror's {SUITE} has {KERNEL_PACKAGE} {installed}, this machine's apt "
                f"says {kernel.version}: run `apt-get update`"
            )
        customize(rootfs)
        _make_vm(rootfs)
        run(["mkfs.ext4", "-q", "-L", "labroot", "-d", rootfs, staging / DISK, IMAGE_SIZE])
        run(["rm", "-rf", "--one-file-system", rootfs])

    name = f"lab-vm-{_short_hash(key)}"
    disk = cached_build(cache, name, build, rebuild=rebuild) / DISK
    if update is not None:
        ensure_kernel_update(update, cache)
    return disk


def kernel_update(cache: Path = DEFAULT_CACHE) -> tuple[Kernel, list[Path]] | None:
    """Return the newer kernel the lab repository offers its VMs and its packages (or None)."""
    _, update = mirror_kernels()
    return None if update is None else (update, ensure_kernel_update(update, cache))


def ensure_kernel_update(kernel: Kernel, cache: Path = DEFAULT_CACHE) -> list[Path]:
    """Return Debian's packages of kernel (metapackage and image), downloaded once (~27 MB)."""

    def download(staging: Path) -> None:
        staging.mkdir()
        staging.chmod(0o755)
        wanted = [f"{KERNEL_PACKAGE}={kernel.version}", f"{kernel.package}={kernel.version}"]
        run(["env", "-C", staging, "apt-get", "download", "-q", *wanted], timeout=600)

    name = f"lab-vm-kernel-{kernel.version}"
    return sorted(cached_build(cache, name, download).glob("*.deb"))


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
