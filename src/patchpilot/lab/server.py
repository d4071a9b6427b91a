"""One lab server: its disk layer, its identity, and the loop that boots it with nspawn.

`Server` is the public, frozen view (name, address, SSH port). `ServerRunner` lives in the
supervisor: it prepares the server's overlay upper layer once (hostname, machine id, SSH host
key, authorized key, sources.list), mounts the overlay, wires the network namespace, then
runs `systemd-nspawn --boot` in a fresh time namespace (fresh uptime) and starts it again each
time it exits with 133 (a `systemctl reboot` inside), honouring a `hang` set for that reboot.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import shutil
import signal
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from patchpilot.lab.errors import LabError
from patchpilot.lab.network import LabNetwork, attach_server, delete_netns, set_link
from patchpilot.lab.tools import generate_key, run

__all__ = ["REBOOT_EXIT", "Server", "ServerRunner", "ServerState"]

REBOOT_EXIT = 133
NEVER = -1.0


class ServerState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    REBOOTING = "rebooting"
    DOWN = "down"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Server:
    """A lab server as tests and the CLI see it."""

    name: str
    address: str
    ssh_port: int = 22
    kind: str = "container"


@dataclass(frozen=True)
class ServerFiles:
    """Where a server's pieces live in the lab folder."""

    root: Path

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def console(self) -> Path:
        return self.root / "console.log"

    @property
    def host_key(self) -> Path:
        return self.upper / "etc/ssh/ssh_host_ed25519_key"


class ServerRunner:
    """Boot, reboot, hang, cut and stop one nspawn server (runs inside the supervisor)."""

    def __init__(
        self, number: int, network: LabNetwork, root: Path, netns: Path, base: Path
    ) -> None:
        self.number = number
        self.name = f"lab-{number}"
        self.network = network
        self.files = ServerFiles(root)
        self.netns = netns
        self.base = base
        self.state = ServerState.STOPPED
        self.boot_id: str | None = None
        self.is_cut = False
        self.hang_seconds: float | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def server(self) -> Server:
        return Server(self.name, self.network.address(self.number))

    def prepare(self, *, authorized_key: str, sources_list: str, repo_url: str) -> None:
        """Write the server's identity into its fresh upper layer and mount its overlay."""
        for path in (self.files.upper, self.files.work, self.files.merged):
            path.mkdir(parents=True, exist_ok=True)
        files = {
            "etc/hostname": f"{self.name}\n",
            "etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {self.name}\n",
            "etc/machine-id": f"{uuid.uuid4().hex}\n",
            "root/.ssh/authorized_keys": authorized_key,
            "etc/apt/sources.list": sources_list,
            "etc/lab-repo-url": f"{repo_url}\n",
        }
        for relative, content in files.items():
            self._write_upper(relative, content)
        (self.files.upper / "root/.ssh/authorized_keys").chmod(0o600)
        self._make_upper_parents("etc/ssh/ssh_host_ed25519_key")
        generate_key(self.files.host_key, comment=f"root@{self.name}")
        options = f"lowerdir={self.base},upperdir={self.files.upper},workdir={self.files.work}"
        run(["mount", "-t", "overlay", "overlay", "-o", options, self.files.merged])
        attach_server(self.network, self.number, self.netns)

    def host_key_line(self) -> str:
        """Return the server's known_hosts line (name and address)."""
        key_type, key = self.files.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{self.name},{self.server.address} {key_type} {key}\n"

    def _write_upper(self, relative: str, content: str) -> None:
        """Write a file into the upper layer."""
        self._make_upper_parents(relative)
        (self.files.upper / relative).write_text(content)

    def _make_upper_parents(self, relative: str) -> None:
        """Create a file's parent folders in the upper layer with the base's modes."""
        parts = Path(relative).parts
        for depth in range(1, len(parts)):
            sub = Path(*parts[:depth])
            upper_dir = self.files.upper / sub
            if not upper_dir.exists():
                lower = self.base / sub
                mode = stat.S_IMODE(lower.stat().st_mode) if lower.is_dir() else 0o755
                upper_dir.mkdir(mode=mode)
                upper_dir.chmod(mode)

    def start(self) -> None:
        """Start the boot loop (does not wait for the server to answer)."""
        if self._loop_task is None or self._loop_task.done():
            self._stopping = False
            self._loop_task = asyncio.create_task(self._boot_loop(), name=self.name)

    async def _boot_loop(self) -> None:
        while not self._stopping:
            self.state = ServerState.STARTING
            status = await self._boot_once()
            if self._stopping or status != REBOOT_EXIT:
                break
            self.state = ServerState.REBOOTING
            if not await self._wait_hang():
                break
        self.state = ServerState.STOPPED if self._stopping else ServerState.DOWN
        self.boot_id = None

    async def _wait_hang(self) -> bool:
        """Stay down for the armed hang, if any; return False to never come back."""
        seconds, self.hang_seconds = self.hang_seconds, None
        if seconds is None:
            return True
        self.state = ServerState.DOWN
        if seconds == NEVER:
            return False
        await asyncio.sleep(seconds)
        return not self._stopping

    async def _boot_once(self) -> int:
        uptime = int(float(Path("/proc/uptime").read_text().split()[0]))
        with self.files.console.open("ab") as console:
            self._process = await asyncio.create_subprocess_exec(
                *self._command(uptime),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=console,
            )
        (self.files.root / "nspawn.pid").write_text(f"{self._process.pid}\n")
        waiter = asyncio.create_task(self._watch_boot())
        status = await self._process.wait()
        waiter.cancel()
        self.boot_id = None
        return status

    def _command(self, uptime: int) -> list[str]:
        return [
            "setpriv",
            "--pdeathsig",
            "TERM",
            "--",
            "unshare",
            "--time",
            f"--boottime=-{uptime}",
            f"--monotonic=-{uptime}",
            "--",
            "systemd-nspawn",
            "--boot",
            "--quiet",
            f"--directory={self.files.merged}",
            f"--machine={self.name}",
            f"--hostname={self.name}",
            "--register=no",
            "--keep-unit",
            f"--network-namespace-path={self.netns}",
            "--console=passive",
            "--link-journal=no",
            "--resolv-conf=off",
            "--timezone=off",
            "--tmpfs=/tmp:mode=1777",
        ]

    async def _watch_boot(self) -> None:
        """Mark the server running once sshd answers; remember the new boot id."""
        while True:
            boot_id = self._read_boot_id()
            if boot_id and await _ssh_answers(self.server.address):
                self.boot_id = boot_id
                self.state = ServerState.RUNNING
                return
            await asyncio.sleep(0.05)

    def _read_boot_id(self) -> str | None:
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

    async def wait_running(self, timeout: float, *, not_boot: str | None = None) -> str:
        """Wait until sshd answers (with a boot id other than not_boot); return the boot id."""
        async with asyncio.timeout(timeout):
            while True:
                if self.state is ServerState.RUNNING and self.boot_id and self.boot_id != not_boot:
                    return self.boot_id
                if self.state in (ServerState.DOWN, ServerState.STOPPED) and self._loop_done():
                    raise LabError(f"{self.name} is down")
                await asyncio.sleep(0.05)

    def _loop_done(self) -> bool:
        return self._loop_task is None or self._loop_task.done()

    def reboot(self) -> None:
        """Ask the server's systemd for a clean reboot (as ctrl-alt-del does)."""
        leader = self._leader()
        if leader is None:
            raise LabError(f"{self.name} is not running")
        self.state = ServerState.REBOOTING
        self.boot_id = None
        os.kill(leader, signal.SIGINT)

    def hang(self, seconds: float | None) -> None:
        """Keep the server down for seconds at its next reboot (None: never come back)."""
        self.hang_seconds = NEVER if seconds is None else seconds

    def set_cut(self, is_cut: bool) -> None:
        """Take the server's link down (cut) or up (restore)."""
        set_link(self.network, self.number, up=not is_cut)
        self.is_cut = is_cut

    async def stop(self, timeout: float = 20.0) -> None:
        """Power the server off (SIGTERM to nspawn), killing it after timeout seconds."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._loop_task is not None:
            await self._loop_task

    def release(self, *, remove: bool) -> None:
        """Unmount the overlay and namespace; with remove, delete the server's folder."""
        if os.path.ismount(self.files.merged):
            run(["umount", self.files.merged])
        delete_netns(self.netns)
        if remove:
            shutil.rmtree(self.files.root, ignore_errors=True)


async def _ssh_answers(address: str, port: int = 22) -> bool:
    """Return True when an SSH server greets us on address:port."""
    try:
        async with asyncio.timeout(1.0):
            reader, writer = await asyncio.open_connection(address, port)
            try:
                banner = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
    return banner.startswith(b"SSH-")
