"""Host commands the lab runs: preflight checks (root, tools) and one `run` wrapper.

Every external command goes through `run`, which takes an argument list (never a shell
string) and turns a failure into a `LabError` carrying the command's stderr.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from patchpilot.lab.errors import LabError

__all__ = [
    "CONTAINER_TOOLS",
    "RPM_TOOLS",
    "TOOL_PACKAGES",
    "VM_TOOLS",
    "generate_key",
    "require_root",
    "require_tools",
    "run",
]

# Command -> the Debian package that provides it.
TOOL_PACKAGES: dict[str, str] = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "dpkg-deb": "dpkg",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "qemu-system-x86_64": "qemu-system-x86",
    "debugfs": "e2fsprogs",
    "mkfs.ext4": "e2fsprogs",
    "rpmbuild": "rpm",
    "createrepo_c": "createrepo-c",
    "modifyrepo_c": "createrepo-c",
}

CONTAINER_TOOLS = (
    "debootstrap",
    "systemd-nspawn",
    "ip",
    "ssh",
    "ssh-keygen",
    "dpkg-deb",
    "unshare",
    "nsenter",
    "setpriv",
    "mount",
    "umount",
)

VM_TOOLS = ("qemu-system-x86_64", "debugfs", "mkfs.ext4")

RPM_TOOLS = ("rpmbuild", "createrepo_c", "modifyrepo_c")  # the lab's RPM servers (issue 12)


def require_root() -> None:
    """Refuse to go on unless running as root (namespaces, mounts and bridges need it)."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, mounts, bridges): run as root")


def require_tools(tools: Sequence[str] = CONTAINER_TOOLS) -> None:
    """Refuse to go on when a command is missing, naming the Debian package to install."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        packages = sorted({TOOL_PACKAGES.get(tool, tool) for tool in missing})
        raise LabError(
            f"missing {', '.join(missing)}: install with `apt-get install {' '.join(packages)}`"
        )


def run(
    argv: Sequence[str | Path],
    *,
    input_text: str | None = None,
    check: bool = True,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run one host command and return its result; raise LabError when it fails and check."""
    args = [str(arg) for arg in argv]
    try:
        result = subprocess.run(
            args, input=input_text, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"missing command {args[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{args[0]} took more than {timeout:g} s") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise LabError(f"{' '.join(args[:4])} failed ({result.returncode}): {' | '.join(detail)}")
    return result


def generate_key(path: Path, *, comment: str) -> None:
    """Create an ed25519 key pair without passphrase at path (and path.pub)."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on path (made with its folder if missing) while the block runs.

    The lab's shared things (a folder, its repositories, the image cache, the machine-wide
    network choice) are used by several test processes at once; the kernel drops the lock
    when its holder dies, so a killed run never leaves one behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
