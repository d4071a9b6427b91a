"""A lab server as a qemu virtual machine (software emulation), for what needs a real kernel.

It boots the newest kernel of its own /boot (see `vmimage.py`), so installing a kernel and
rebooting really changes the running kernel. Its only network is qemu's user mode with
`restrict=on`: SSH reaches it through a `hostfwd` on 127.0.0.1, and it reaches nothing but
the lab repository, through a `guestfwd` relay. qemu runs with `-no-reboot`, so a reboot
inside ends the qemu process and the supervisor boots the VM again. Controls go through the
qemu monitor: ctrl-alt-delete for a clean reboot, `set_link` for cut and restore. At most
MAX_VMS VMs run on the machine at once, across all labs (flock slots); a new one waits.
"""

from __future__ import annotations

import asyncio
import fcntl
import shlex
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import IO

from patchpilot.lab.errors import LabError
from patchpilot.lab.machine import Machine, identity_files
from patchpilot.lab.repo import Repository
from patchpilot.lab.server import Server
from patchpilot.lab.tools import generate_key, run
from patchpilot.lab.vmimage import GUEST_ADDRESS, newest_kernel, seed_disk

__all__ = ["MAX_VMS", "VirtualMachine", "acquire_vm_slot", "free_port"]

MAX_VMS = 2
SLOTS = Path("/run/lock/patchpilot-lab-vm")
SLOT_WAIT = 600.0
GUEST_REPO = "10.0.2.100"
MEMORY_MIB = 768
PROMPT = b"(qemu) "


def acquire_vm_slot(timeout: float = SLOT_WAIT) -> IO[str]:
    """Take one of the machine's MAX_VMS VM slots (all labs together), waiting for a free one.

    The slot is an flock held on the returned file: closing it, or the supervisor dying,
    frees it.
    """
    SLOTS.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for slot in range(MAX_VMS):
            handle = (SLOTS / f"slot-{slot}").open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return handle
        if time.monotonic() > deadline:
            raise LabError(f"this machine already runs {MAX_VMS} lab VMs; waited {timeout:g} s")
        time.sleep(1.0)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VirtualMachine(Machine):
    """One qemu VM: lab-vm-N, SSH on 127.0.0.1:port."""

    def __init__(
        self, number: int, root: Path, *, image: Path, repo: Repository, ssh_config: Path
    ) -> None:
        super().__init__(f"lab-vm-{number}", root)
        self.image = image
        self.port = free_port()
        self.repo_address = repo.url.split("//", 1)[1].rstrip("/")
        self.ssh_config = ssh_config
        self.kernel_version: str | None = None
        self._slot: IO[str] | None = None

    @property
    def server(self) -> Server:
        return Server(self.name, "127.0.0.1", self.port, "vm")

    @property
    def disk(self) -> Path:
        return self.root / "disk.raw"

    @property
    def monitor(self) -> Path:
        return self.root / "monitor.sock"

    def prepare(self, *, authorized_key: str, repo: Repository) -> None:
        """Take a VM slot, copy the image (sparse) and write the VM's identity into it."""
        self._slot = acquire_vm_slot()
        self.root.mkdir(parents=True, exist_ok=True)
        run(["cp", "--sparse=always", self.image, self.disk], timeout=300)
        generate_key(self.host_key, comment=f"root@{self.name}")
        guest_repo = Repository(repo.directory, f"http://{GUEST_REPO}:{repo.url.rsplit(':', 1)[1]}")
        # debugfs writes root-owned files: a user's key file stays readable by its user (0644,
        # which sshd accepts from root), root's is root's only.
        files = {
            path: (content, 0o600 if path.startswith("root/") else 0o644)
            for path, content in identity_files(self.name, authorized_key, guest_repo).items()
        }
        files["etc/ssh/ssh_host_ed25519_key"] = (self.host_key.read_text(), 0o600)
        files["etc/ssh/ssh_host_ed25519_key.pub"] = (
            self.host_key.with_suffix(".pub").read_text(),
            0o644,
        )
        seed_disk(self.disk, files)

    def _command(self) -> list[str]:
        boot = newest_kernel(self.disk, self.root)
        self.kernel_version = boot.version
        relay = shlex.join(
            [sys.executable, "-m", "patchpilot.lab.relay", *self.repo_address.split(":")]
        )
        repo_port = self.repo_address.split(":")[1]
        network = (
            f"user,id=net0,restrict=on,net=10.0.2.0/24,"
            f"hostfwd=tcp:127.0.0.1:{self.port}-{GUEST_ADDRESS}:22,"
            f"guestfwd=tcp:{GUEST_REPO}:{repo_port}-cmd:{relay}"
        )
        return [
            *("setpriv", "--pdeathsig", "TERM", "--"),
            "qemu-system-x86_64",
            *("-name", self.name, "-machine", "q35", "-accel", "tcg,tb-size=128"),
            *("-cpu", "max", "-smp", "2", "-m", str(MEMORY_MIB)),
            *("-display", "none", "-serial", "stdio", "-no-reboot"),
            *("-monitor", f"unix:{self.monitor},server=on,wait=off"),
            *("-kernel", str(boot.kernel), "-initrd", str(boot.initrd)),
            *("-append", "root=/dev/vda rw console=ttyS0 quiet"),
            # unsafe: the guest's flushes are ignored (dpkg's fsyncs); its writes still reach
            # the host's page cache, so a reboot or a killed qemu loses nothing.
            *("-drive", f"file={self.disk},format=raw,if=virtio,cache=unsafe"),
            *("-netdev", network, "-device", "virtio-net-pci,netdev=net0"),
        ]

    def _is_reboot(self, status: int) -> bool:
        return status == 0

    async def _read_boot_id(self) -> str | None:
        argv = ["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes", self.name]
        process = await asyncio.create_subprocess_exec(
            *argv,
            "cat /proc/sys/kernel/random/boot_id",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        stdout, _ = await process.communicate()
        return stdout.decode().strip() if process.returncode == 0 else None

    def reboot(self) -> None:
        """Press ctrl-alt-delete: the VM's systemd reboots cleanly."""
        self._monitor("sendkey ctrl-alt-delete")
        self._mark_rebooting()

    def set_cut(self, is_cut: bool) -> None:
        self._monitor(f"set_link net0 {'off' if is_cut else 'on'}")
        self.is_cut = is_cut

    def release(self, *, remove: bool) -> None:
        if self._slot is not None:
            self._slot.close()
            self._slot = None
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def _monitor(self, command: str) -> None:
        """Run one command on the qemu monitor and wait for its prompt."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.monitor))
            _read_until_prompt(sock)
            sock.sendall(command.encode() + b"\n")
            _read_until_prompt(sock)


def _read_until_prompt(sock: socket.socket) -> None:
    data = b""
    while not data.endswith(PROMPT):
        chunk = sock.recv(4096)
        if not chunk:
            return
        data += chunk
