"""The lab's supervisor daemon: owns one lab's servers, network and repository server.

Started detached by `Lab.up` inside its own mount namespace (`unshare --mount`), so its
overlay mounts and namespace pins are invisible to the machine and vanish with it. It serves
the repository over HTTP on the bridge, answers control requests on the lab's socket, restarts
servers that reboot, and on shutdown (request or SIGTERM) stops everything and removes the
bridge. Run as `python -m patchpilot.lab.supervisor LAB_DIR`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from patchpilot.lab.access import inventory_text, ssh_config_text, write_atomic
from patchpilot.lab.container import ContainerServer
from patchpilot.lab.controls import decode, encode
from patchpilot.lab.errors import LabError
from patchpilot.lab.layout import LabLayout
from patchpilot.lab.limits import acquire_limits, release_limits
from patchpilot.lab.machine import Machine
from patchpilot.lab.network import LabNetwork, delete_bridge
from patchpilot.lab.releases import DEFAULT_RELEASE
from patchpilot.lab.repo import Repository, serve_repository
from patchpilot.lab.tools import run
from patchpilot.lab.vm import MAX_VMS, VirtualMachine

__all__ = ["Supervisor", "main"]

BOOT_TIMEOUT = 60.0
VM_BOOT_TIMEOUT = 480.0
NSPAWN_RUNTIME = Path("/run/systemd/nspawn")


class Supervisor:
    """One lab's servers and services, driven by control requests."""

    def __init__(self, directory: Path) -> None:
        self.layout = LabLayout(directory)
        config = json.loads(self.layout.config.read_text())
        self.network = LabNetwork(int(config["index"]))
        self.base = Path(config["base"])
        self.port = int(config["port"])
        self.owner: int | None = config.get("owner")
        self.repo = Repository(self.layout.repo, f"http://{self.network.gateway}:{self.port}/")
        self.runners: dict[str, Machine] = {}
        self.next_number = 1
        self.next_vm = 1
        self.done = asyncio.Event()

    async def serve(self) -> None:
        """Run until a shutdown request or SIGTERM, then stop everything."""
        self._private_mounts()
        acquire_limits(str(self.layout.directory))
        http = serve_repository(self.layout.repo, self.network.gateway, self.port)
        self.layout.control.unlink(missing_ok=True)
        control = await asyncio.start_unix_server(self._handle, path=str(self.layout.control))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.done.set)
        self._publish_state()
        self._watch_owner(loop)
        try:
            await self.done.wait()
        finally:
            control.close()
            await self._shutdown()
            http.shutdown()

    def _watch_owner(self, loop: asyncio.AbstractEventLoop) -> None:
        """Shut the lab down once its owner process (if it has one) ends, however it ends."""
        if self.owner is None:
            return
        try:
            pidfd = os.pidfd_open(self.owner)
        except ProcessLookupError:
            self.done.set()
            return
        loop.add_reader(pidfd, self.done.set)  # a pidfd becomes readable when the process exits

    def _private_mounts(self) -> None:
        """Give nspawn the tmpfs it expects under /run and pin namespaces on a private tmpfs."""
        NSPAWN_RUNTIME.mkdir(parents=True, exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", "mode=0755", "lab-nspawn", NSPAWN_RUNTIME])
        self.layout.netns.mkdir(exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", "mode=0700", "lab-netns", self.layout.netns])

    async def _shutdown(self) -> None:
        runners = list(self.runners.values())
        await asyncio.gather(*(runner.stop() for runner in runners), return_exceptions=True)
        for runner in runners:
            runner.release(remove=False)
        self.runners.clear()
        delete_bridge(self.network)
        release_limits(str(self.layout.directory))
        self._publish_state()
        self.layout.control.unlink(missing_ok=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = decode(await reader.readline())
            reply = {"ok": True, **await self._dispatch(request)}
        except LabError as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug: report it rather than kill the lab
            reply = {"ok": False, "error": f"lab supervisor error: {exc!r}"}
        writer.write(encode(reply))
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    async def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "status":
            return {"servers": self._status()}
        if op == "add":
            base = request.get("base")
            flavor = str(request.get("flavor", "apt"))
            release = str(request.get("release", DEFAULT_RELEASE))
            count = int(request.get("count", 1))
            image = Path(base) if base else None
            return {"servers": await self._add(count, image, flavor, release)}
        if op == "add_vm":
            return {"servers": await self._add_vm(Path(str(request["image"])))}
        if op == "shutdown":
            self.done.set()
            return {}
        runner = self._runner(str(request.get("name")))
        return await self._control(runner, str(op), request)

    async def _control(self, runner: Machine, op: str, request: dict[str, Any]) -> dict[str, Any]:
        timeout = float(request.get("wait_timeout", BOOT_TIMEOUT))
        if op == "remove":
            await runner.stop()
            runner.release(remove=True)
            del self.runners[runner.name]
        elif op == "start":
            runner.start()
            await runner.wait_running(timeout)
        elif op == "reboot":
            old = runner.boot_id
            runner.reboot()
            if request.get("wait", True) and runner.hang_seconds is None:
                return {"boot_id": await runner.wait_running(timeout, not_boot=old)}
        elif op == "hang":
            seconds = request.get("seconds")
            runner.hang(None if seconds is None else float(seconds))
        elif op in ("cut", "restore"):
            runner.set_cut(op == "cut")
        else:
            raise LabError(f"unknown lab operation {op!r}")
        self._publish_state()
        return {"boot_id": runner.boot_id}

    def _runner(self, name: str) -> Machine:
        try:
            return self.runners[name]
        except KeyError:
            raise LabError(f"no server {name!r} in this lab") from None

    async def _add(
        self,
        count: int,
        base: Path | None = None,
        flavor: str = "apt",
        release: str = DEFAULT_RELEASE,
    ) -> list[dict[str, Any]]:
        machines: list[Machine] = []
        for _ in range(count):
            number, self.next_number = self.next_number, self.next_number + 1
            name = f"lab-{number}"
            root, netns = self.layout.servers / name, self.layout.netns / name
            machines.append(
                ContainerServer(
                    number, self.network, root, netns, base or self.base, flavor, release
                )
            )
        return await self._boot_new(machines, BOOT_TIMEOUT)

    async def _add_vm(self, image: Path) -> list[dict[str, Any]]:
        running = [m for m in self.runners.values() if isinstance(m, VirtualMachine)]
        if len(running) >= MAX_VMS:
            raise LabError(f"a lab runs at most {MAX_VMS} VMs at once")
        number, self.next_vm = self.next_vm, self.next_vm + 1
        root = self.layout.servers / f"lab-vm-{number}"
        vm = VirtualMachine(
            number, root, image=image, repo=self.repo, ssh_config=self.layout.ssh_config
        )
        return await self._boot_new([vm], VM_BOOT_TIMEOUT)

    async def _boot_new(self, machines: list[Machine], timeout: float) -> list[dict[str, Any]]:
        """Prepare machines' disks one by one, boot them all, and wait until SSH answers."""
        key = self.layout.key.with_suffix(".pub").read_text()
        for machine in machines:
            await asyncio.to_thread(machine.prepare, authorized_key=key, repo=self.repo)
            self.runners[machine.name] = machine
        self._publish_state()
        for machine in machines:
            machine.start()
        await asyncio.gather(*(machine.wait_running(timeout) for machine in machines))
        self._publish_state()
        return [_describe(machine) for machine in machines]

    def _status(self) -> list[dict[str, Any]]:
        return [_describe(runner) for runner in self.runners.values()]

    def _publish_state(self) -> None:
        """Rewrite state.json and the SSH/Ansible access files from the current servers."""
        servers = [runner.server for runner in self.runners.values()]
        layout = self.layout
        write_atomic(layout.known_hosts, "".join(r.host_key_line() for r in self.runners.values()))
        write_atomic(layout.ssh_config, ssh_config_text(servers, layout.key, layout.known_hosts))
        write_atomic(layout.inventory, inventory_text(servers, layout.key, layout.known_hosts))
        state = {"pid": os.getpid(), "repo": self.repo.url, "servers": self._status()}
        write_atomic(layout.state, json.dumps(state, indent=1))


def _describe(runner: Machine) -> dict[str, Any]:
    server = runner.server
    return {
        "name": server.name,
        "address": server.address,
        "ssh_port": server.ssh_port,
        "kind": server.kind,
        "flavor": server.flavor,
        "release": server.release,
        "state": runner.state.value,
        "boot_id": runner.boot_id,
        "cut": runner.is_cut,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the supervisor of the lab folder given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m patchpilot.lab.supervisor LAB_DIR")
    directory = Path(args[0])
    LabLayout(directory).pid.write_text(f"{os.getpid()}\n")
    asyncio.run(Supervisor(directory).serve())


if __name__ == "__main__":
    main()
