"""What every lab machine shares: identity files, state, and the boot loop with its controls.

A `Machine` is booted by a process (systemd-nspawn for containers, qemu for VMs) that exits
when the machine reboots; the loop starts it again unless a `hang` keeps it down, marks it
running once sshd greets us and its boot id is known, and stops it on request. Subclasses say
how to prepare its disk, spawn it, read its boot id, reboot it and cut its link.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import signal
import uuid
from pathlib import Path

from patchpilot.lab.base import LAB_USERS
from patchpilot.lab.errors import LabError
from patchpilot.lab.repo import Repository
from patchpilot.lab.server import Server

__all__ = ["Machine", "MachineState", "identity_files", "ssh_answers"]

NEVER = -1.0


class MachineState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    REBOOTING = "rebooting"
    DOWN = "down"
    STOPPED = "stopped"


def identity_files(name: str, authorized_key: str, repo: Repository) -> dict[str, str]:
    """Return the files (path relative to / -> content) that make a fresh server itself.

    The lab key logs in as root and as each of the image's unprivileged users.
    """
    return {
        "etc/hostname": f"{name}\n",
        "etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {name}\n",
        "etc/machine-id": f"{uuid.uuid4().hex}\n",
        "root/.ssh/authorized_keys": authorized_key,
        **{f"home/{user}/.ssh/authorized_keys": authorized_key for user in LAB_USERS},
        "etc/apt/sources.list": repo.sources_list(),
        "etc/lab-repo-url": f"{repo.url}\n",
    }


class Machine(abc.ABC):
    """One lab machine's life inside the supervisor (see module docstring)."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.state = MachineState.STOPPED
        self.boot_id: str | None = None
        self.is_cut = False
        self.hang_seconds: float | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    @abc.abstractmethod
    def server(self) -> Server: ...

    @property
    def console(self) -> Path:
        return self.root / "console.log"

    @property
    def host_key(self) -> Path:
        """The machine's private SSH host key as kept on the host (with .pub beside it)."""
        return self.root / "ssh_host_ed25519_key"

    @abc.abstractmethod
    def prepare(self, *, authorized_key: str, repo: Repository) -> None:
        """Create the machine's disk with its own identity (runs once, in a thread)."""

    @abc.abstractmethod
    def _command(self) -> list[str]:
        """Return the argument list that boots the machine once."""

    @abc.abstractmethod
    async def _read_boot_id(self) -> str | None:
        """Return the running machine's boot id, or None while it is not readable."""

    @abc.abstractmethod
    def reboot(self) -> None:
        """Ask the machine for a clean reboot."""

    @abc.abstractmethod
    def set_cut(self, is_cut: bool) -> None:
        """Take the machine's link down (cut) or up (restore)."""

    @abc.abstractmethod
    def release(self, *, remove: bool) -> None:
        """Free what the machine holds on the host; with remove, delete its folder too."""

    def host_key_line(self) -> str:
        """Return the machine's known_hosts line (its name, as the ssh_config's HostKeyAlias)."""
        key_type, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        server = self.server
        where = server.address if server.ssh_port == 22 else f"[{server.address}]:{server.ssh_port}"
        return f"{self.name},{where} {key_type} {key}\n"

    def start(self) -> None:
        """Start the boot loop (does not wait for the machine to answer)."""
        if self._loop_task is None or self._loop_task.done():
            self._stopping = False
            self._loop_task = asyncio.create_task(self._boot_loop(), name=self.name)

    def hang(self, seconds: float | None) -> None:
        """Keep the machine down for seconds at its next reboot (None: never come back)."""
        self.hang_seconds = NEVER if seconds is None else seconds

    def _mark_rebooting(self) -> None:
        self.state = MachineState.REBOOTING
        self.boot_id = None

    async def _boot_loop(self) -> None:
        while not self._stopping:
            self.state = MachineState.STARTING
            status = await self._boot_once()
            if self._stopping or not self._is_reboot(status):
                break
            self._mark_rebooting()
            if not await self._wait_hang():
                break
        self.state = MachineState.STOPPED if self._stopping else MachineState.DOWN
        self.boot_id = None

    @abc.abstractmethod
    def _is_reboot(self, status: int) -> bool:
        """Return True when the boot process's exit status means the machine rebooted."""

    async def _wait_hang(self) -> bool:
        """Stay down for the armed hang, if any; return False to never come back."""
        seconds, self.hang_seconds = self.hang_seconds, None
        if seconds is None:
            return True
        self.state = MachineState.DOWN
        if seconds == NEVER:
            return False
        await asyncio.sleep(seconds)
        return not self._stopping

    async def _boot_once(self) -> int:
        with self.console.open("ab") as console:
            self._process = await asyncio.create_subprocess_exec(
                *self._command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=console,
            )
        (self.root / "boot.pid").write_text(f"{self._process.pid}\n")
        watcher = asyncio.create_task(self._watch_boot())
        status = await self._process.wait()
        watcher.cancel()
        self.boot_id = None
        return status

    async def _watch_boot(self) -> None:
        """Mark the machine running once sshd answers; remember the new boot id."""
        server = self.server
        while True:
            if await ssh_answers(server.address, server.ssh_port):
                boot_id = await self._read_boot_id()
                if boot_id:
                    self.boot_id = boot_id
                    self.state = MachineState.RUNNING
                    return
            await asyncio.sleep(0.05)

    async def wait_running(self, timeout: float, *, not_boot: str | None = None) -> str:
        """Wait until sshd answers (with a boot id other than not_boot); return the boot id."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    boot_id = self.boot_id
                    if self.state is MachineState.RUNNING and boot_id and boot_id != not_boot:
                        return boot_id
                    if self._loop_task is None or self._loop_task.done():
                        raise LabError(f"{self.name} is down")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise LabError(f"{self.name} did not answer within {timeout:g} s") from None

    async def stop(self, timeout: float = 20.0) -> None:
        """Stop the machine (SIGTERM to its boot process), killing it after timeout seconds."""
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


async def ssh_answers(address: str, port: int = 22) -> bool:
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
