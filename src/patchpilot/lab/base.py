"""The lab's base image: a Debian root filesystem built once with debootstrap, then cached.

The cache key is a hash of everything that goes into the image (package list, mirror, the
catalog's base packages, this recipe's version), so the image is rebuilt exactly when one of
them changes, or on request. A file lock lets concurrent labs share one build. Servers never
write to the base: each one mounts its own overlay above it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from patchpilot.lab.catalog import BASE_INSTALLED
from patchpilot.lab.debs import build_deb, control_text
from patchpilot.lab.releases import DEFAULT_RELEASE, debian_release
from patchpilot.lab.tools import locked, run

__all__ = [
    "BASE_PACKAGES",
    "DEFAULT_CACHE",
    "LAB_USERS",
    "PLAIN_USER",
    "SUDO_LOG",
    "SUDO_USER",
    "base_key",
    "cached_build",
    "config_files",
    "customize",
    "debootstrap",
    "ensure_base",
    "mirror_url",
]

RECIPE_VERSION = 2
SUITE = DEFAULT_RELEASE  # the VM image's release (vmimage.py)
DEFAULT_CACHE = Path("/var/cache/patchpilot")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "at",
    "python3",
    "python3-apt",
    "iproute2",
    "procps",
    "ca-certificates",
    "sudo",
    "libpam-systemd",  # SSH logins become logind sessions, which a shutdown stops
)
SUDO_USER = "patcher"  # logs in with the lab key; `sudo` without a password (NOPASSWD)
PLAIN_USER = "visitor"  # logs in with the lab key; no sudo rights
LAB_USERS = (SUDO_USER, PLAIN_USER)
SUDOERS = "etc/sudoers.d/lab"
SUDO_LOG = "/var/log/sudo.log"
MASKED_UNITS = (
    "console-getty.service",
    "getty@.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-pstore.service",
)
CONFIG_FILES = {
    "etc/ssh/sshd_config.d/lab.conf": (
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
    ),
    "etc/systemd/journald.conf.d/lab.conf": "[Journal]\nStorage=volatile\nRuntimeMaxUse=8M\n",
    # In a container on cgroup v1, killing a login's scope or its user manager (libpam-systemd)
    # fails with EIO, and their stop jobs then wait out the stop timeout, 90 s by default:
    # a reboot with an SSH login open took that long, now at most 5 s per unit.
    "etc/systemd/system.conf.d/lab.conf": "[Manager]\nDefaultTimeoutStopSec=5s\n",
    # A login still open when the server shuts down (a connector's or Ansible's connection)
    # made its reboot wait those 5 s (2.2 s -> 6.5 s for ten servers rebooting at once): a
    # login's scope gets 1 s. On a real server (cgroup v2) the scope ends as its processes do.
    "etc/systemd/system/session-.scope.d/lab.conf": "[Scope]\nTimeoutStopSec=1s\n",
    # A user's manager (user@UID, started by a login's pam_systemd) stays once started: a
    # login that came while the last one's manager was being stopped (10 s after logout, and
    # on cgroup v1 that stop can hang as above) waited for it, and its SSH session request
    # stalled for 20-120 s after authentication (seen as lab ssh and connector timeouts).
    "etc/systemd/logind.conf.d/lab.conf": "[Login]\nUserStopDelaySec=infinity\n",
    "etc/apt/apt.conf.d/90lab": 'Acquire::Languages "none";\nAPT::Install-Recommends "false";\n',
    "etc/apt/sources.list": "",
    "etc/machine-id": "",
    # Every sudo, allowed or refused, in a log that survives reboots (the journal does not).
    SUDOERS: (
        f"Defaults logfile={SUDO_LOG}, loglinelen=0\n{SUDO_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    ),
}


def mirror_url(sources_list: Path = Path("/etc/apt/sources.list")) -> str:
    """Return the Debian mirror this machine uses (the first `deb http…` line), or Debian's."""
    try:
        lines = sources_list.read_text().splitlines()
    except OSError:
        return DEFAULT_MIRROR
    for line in lines:
        words = [word for word in line.split() if not word.startswith("[")]
        if len(words) >= 2 and words[0] == "deb" and words[1].startswith("http"):
            return words[1].rstrip("/")
    return DEFAULT_MIRROR


def config_files(release: str = DEFAULT_RELEASE) -> dict[str, str]:
    """Return the lab's configuration files as release's own tools read them."""
    files = {**CONFIG_FILES, **dict(debian_release(release).config)}
    if not debian_release(release).has_kbd_interactive:
        sshd = "etc/ssh/sshd_config.d/lab.conf"
        files[sshd] = files[sshd].replace("KbdInteractiveAuthentication no\n", "")
    return files


def base_key(mirror: str, release: str = DEFAULT_RELEASE) -> str:
    """Return the cache key of release's base image built from mirror."""
    recipe = {
        "version": RECIPE_VERSION,
        "suite": release,
        "mirror": mirror,
        "packages": BASE_PACKAGES,
        "users": LAB_USERS,
        "masked": MASKED_UNITS,
        "config": config_files(release),
        "catalog": [(control_text(spec), spec.files, spec.postinst) for spec in BASE_INSTALLED],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_base(
    cache: Path = DEFAULT_CACHE, *, rebuild: bool = False, release: str = DEFAULT_RELEASE
) -> Path:
    """Return release's cached base root filesystem, building it first when needed (~1 min).

    bookworm's keeps its name (`lab-base-<key>`); another release's is `lab-<codename>-<key>`.
    """
    mirror = mirror_url()

    def build(rootfs: Path) -> None:
        debootstrap(rootfs, mirror, BASE_PACKAGES, suite=release)
        customize(rootfs, release=release)

    prefix = "lab-base" if release == DEFAULT_RELEASE else f"lab-{debian_release(release).codename}"
    return cached_build(cache, f"{prefix}-{base_key(mirror, release)}", build, rebuild=rebuild)


def cached_build(
    cache: Path, name: str, build: Callable[[Path], None], *, rebuild: bool = False
) -> Path:
    """Return cache/name, first building it with build(staging) unless already complete.

    A lock file serialises concurrent builders; the result appears in one rename, and a
    `.complete` marker says it is whole.
    """
    target = cache / name
    marker = cache / f"{name}.complete"
    with locked(cache / f"{name}.lock"):
        if marker.exists() and not rebuild:
            return target
        marker.unlink(missing_ok=True)
        staging = cache / f"{name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        build(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        marker.touch()
    return target


def debootstrap(
    target: Path, mirror: str, packages: Sequence[str], *, suite: str = DEFAULT_RELEASE
) -> None:
    """Install a minimal Debian release (suite) with packages into target (a new folder)."""
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}"]
    run([*argv, suite, target, mirror], timeout=900)


def customize(rootfs: Path, *, with_debs: bool = True, release: str = DEFAULT_RELEASE) -> None:
    """Make a debootstrapped tree a lab image: no host keys, lab config, catalog installed.

    RPM images (`rpmbase.py`) leave the .deb catalog out: their packages are RPMs.
    """
    for key in rootfs.glob("etc/ssh/ssh_host_*"):
        key.unlink()
    for relative, content in config_files(release).items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for unit in MASKED_UNITS:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (rootfs / SUDOERS).chmod(0o440)
    (rootfs / "etc/hostname").unlink(missing_ok=True)
    (rootfs / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    _add_users(rootfs)
    if with_debs:
        _install_catalog(rootfs)
    for leftover in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()


def _add_users(rootfs: Path) -> None:
    """Create the unprivileged users, each with an empty ~/.ssh (a server adds the lab key)."""
    for user in LAB_USERS:
        ssh_dir = f"/home/{user}/.ssh"
        run(["chroot", rootfs, "useradd", "-m", "-U", "-s", "/bin/bash", user])
        run(["chroot", rootfs, "install", "-d", "-m", "700", "-o", user, "-g", user, ssh_dir])


def _install_catalog(rootfs: Path) -> None:
    """Install the catalog's old versions with the image's own dpkg."""
    with tempfile.TemporaryDirectory(prefix="lab-debs-", dir=rootfs / "tmp") as tmp:
        debs = [build_deb(spec, Path(tmp)) for spec in BASE_INSTALLED]
        inside = [f"/{deb.relative_to(rootfs)}" for deb in debs]
        run(["chroot", rootfs, "dpkg", "--install", *inside])
