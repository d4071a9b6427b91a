"""A lab server as a `systemd-nspawn --boot` container (runs inside the supervisor).

Its disk is an overlay: the shared base image below, the server's own upper layer above,
written once with its identity (hostname, machine id, SSH host key, authorized key, apt
sources). Each boot runs nspawn in a fresh time namespace (uptime starts at zero) inside the
server's network namespace; nspawn exits with 133 when the server reboots.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
from pathlib import Path

from patchpilot.lab.errors import LabError
from patchpilot.lab.machine import Machine, identity_files
from patchpilot.lab.network import (
    LabNetwork,
    attach_server,
    delete_netns,
    delete_veth,
    set_link,
)
from patchpilot.lab.releases import DEFAULT_RELEASE, debian_release
from patchpilot.lab.repo import Repository
from patchpilot.lab.rpmrepo import repo_files
from patchpilot.lab.server import Server
from patchpilot.lab.tools import generate_key, run

__all__ = ["REBOOT_EXIT", "ContainerServer"]

REBOOT_EXIT = 133
GUEST_HOST_KEY = "etc/ssh/ssh_host_ed25519_key"


class ContainerServer(Machine):
    """One nspawn server: lab-N at the Nth address of the lab's subnet."""

    def __init__(
        self,
        number: int,
        network: LabNetwork,
        root: Path,
        netns: Path,
        base: Path,
        flavor: str = "apt",
        release: str = DEFAULT_RELEASE,
    ) -> None:
        super().__init__(f"lab-{number}", root)
        self.flavor = flavor  # apt, dnf, zypper: which package tool the image has
        self.debian = debian_release(release)  # which Debian the image is
        self.number = number
        self.network = network
        self.netns = netns
        self.base = base

    @property
    def server(self) -> Server:
        address = self.network.address(self.number)
        return Server(self.name, address, flavor=self.flavor, release=self.debian.codename)

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def host_key(self) -> Path:
        return self.upper / GUEST_HOST_KEY

    def prepare(self, *, authorized_key: str, repo: Repository) -> None:
        """Write the server's identity into its fresh upper layer and mount its overlay."""
        work = self.root / "work"
        for path in (self.upper, work, self.merged):
            path.mkdir(parents=True, exist_ok=True)
        files = identity_files(self.name, authorized_key, repo)
        files.update(repo_files(repo.url, self.flavor))
        for relative, content in files.items():
            self._make_upper_parents(relative)
            path = self.upper / relative
            path.write_text(content)
            folder = path.parent.stat()  # a user's key file is that user's, as its ~/.ssh
            os.chown(path, folder.st_uid, folder.st_gid)
            if path.name == "authorized_keys":
                path.chmod(0o600)
        self._make_upper_parents(GUEST_HOST_KEY)
        generate_key(self.host_key, comment=f"root@{self.name}")
        options = f"lowerdir={self.base},upperdir={self.upper},workdir={work}"
        run(["mount", "-t", "overlay", "overlay", "-o", options, self.merged])
        attach_server(self.network, self.number, self.netns)

    def _make_upper_parents(self, relative: str) -> None:
        """Create a file's parent folders in the upper layer with the base's modes and owners.

        An upper folder hides the lower one's metadata: a user's home must stay the user's.
        """
        parts = Path(relative).parts
        for depth in range(1, len(parts)):
            sub = Path(*parts[:depth])
            upper_dir = self.upper / sub
            if not upper_dir.exists():
                lower = self.base / sub
                mode, uid, gid = 0o755, 0, 0
                if lower.is_dir():
                    found = lower.stat()
                    mode, uid, gid = stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid
                upper_dir.mkdir(mode=mode)
                upper_dir.chmod(mode)
                os.chown(upper_dir, uid, gid)

    def _command(self) -> list[str]:
        uptime = int(float(Path("/proc/uptime").read_text().split()[0]))
        return [
            *("setpriv", "--pdeathsig", "TERM", "--"),
            *("unshare", "--time", f"--boottime=-{uptime}", f"--monotonic=-{uptime}", "--"),
            "systemd-nspawn",
            "--boot",
            "--quiet",
            f"--directory={self.merged}",
            f"--machine={self.name}",
            f"--hostname={self.name}",
            "--register=no",
            "--keep-unit",
            f"--network-namespace-path={self.netns}",
            "--console=read-only",  # drained into console.log: a full console blocks PID 1
            "--link-journal=no",
            "--resolv-conf=off",
            "--timezone=off",
            "--tmpfs=/tmp:mode=1777",
            *self.debian.init_args,  # after the options: PID 1's own command line
        ]

    def _is_reboot(self, status: int) -> bool:
        return status == REBOOT_EXIT

    async def _read_boot_id(self) -> str | None:
        leader = self._leader()
        if leader is None:
            return None
        try:
            return Path(f"/proc/{leader}/root/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            return None

    def _leader(self) -> int | None:
        """Return the container's PID 1 as seen from the host (nspawn's only child)."""
        if self._process is None or self._process.returncode is not None:
            return None
        pid = self._process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def reboot(self) -> None:
        """Ask the server's systemd for a clean reboot (SIGINT to PID 1, as ctrl-alt-del)."""
        leader = self._leader()
        if leader is None:
            raise LabError(f"{self.name} is not running")
        self._mark_rebooting()
        os.kill(leader, signal.SIGINT)

    def set_cut(self, is_cut: bool) -> None:
        set_link(self.network, self.number, up=not is_cut)
        self.is_cut = is_cut

    def release(self, *, remove: bool) -> None:
        if os.path.ismount(self.merged):
            run(["umount", self.merged])
        delete_veth(self.network, self.number)
        delete_netns(self.netns)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
