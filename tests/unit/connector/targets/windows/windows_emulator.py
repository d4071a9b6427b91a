"""A Windows server emulated on this Linux machine, reached over real SSH, running the real client.

What the connector sends is what it would send to Windows' OpenSSH server: commands of inert
tokens, each a `powershell.exe ... -EncodedCommand` script. An in-process asyncssh server on
127.0.0.1 hands every command to `EmulatedWindows.serve`, which recognises the script
(windows_fakes.script_kind) and does what Windows would:

* files under `C:\\ProgramData\\patchpilot` live under `<machine>/var/lib/patchpilot`, the client's
  own folder there (PATCHPILOT_ROOT), so the connector's pushed client, job specs and answer
  files meet the client's journal and state;
* a registered task starts at once as a real process: the pushed client zipapp under
  `python3 -I -S`, with the WUA backend whose PowerShell child is the WUA fake's stand-in
  (tests/unit/client/wua_ps_stub.py, its machine state in a file), found only by the full
  path the client names (`C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe`);
* the relay script connects to the round's endpoint (a Unix socket here, the named pipe on
  Windows) and pumps bytes, so the journal protocol runs end to end;
* a reboot asked by the client (`systemctl reboot`, a shim: PATH holds only shims, so nothing
  can reach this machine's real reboot) kills the tasks, removes the endpoints, restarts the
  WUA fake, advances LastBootUpTime and drops the SSH connections.

Anything else reaching the session (a client run in it, say) is refused and recorded in
`foreign`. This proves the connector's Windows path and the client work together; it says
nothing about Windows itself (docs/windows.md).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
from windows_fakes import script_kind

from patchpilot.client.backends.wua_fake import FakeWindows, load_scenario
from patchpilot.transports.powershell import DATA_ROOT, split_literals

__all__ = ["EmulatedWindows"]

STUB = Path(__file__).parents[3] / "client" / "wua_ps_stub.py"
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
SHIMS = {
    # The client starts PowerShell by its full path (no SYSTEMROOT here: C:\Windows). A name
    # without `/` is looked up in PATH on Linux, so this shim answers for that path only: a
    # bare `powershell.exe` would not be found.
    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe": (
        "exec {python} {stub} {scenario} {state}\n"
    ),
    "systemctl": 'case "$1" in\n  reboot) : > {marker};;\n'
    "  is-system-running) if [ -e {marker} ]; then echo stopping; else echo running; fi;;\n"
    "esac\n",
    "shutdown": ": > {marker}\n",
    "reboot": ": > {marker}\n",
}


@dataclass
class Task:
    argv: list[str]
    process: asyncio.subprocess.Process | None = None


@dataclass
class EmulatedWindows:
    tmp: Path
    scenario: Path
    python: str  # the python.exe the tasks run (the connector's --python, or on the share)
    shares: dict[str, Path] = field(default_factory=dict)  # UNC \\server\share -> folder
    boot: datetime = datetime(2026, 11, 25, 1, 0, 0, tzinfo=UTC)
    tasks: dict[str, Task] = field(default_factory=dict)
    verbs: list[str] = field(default_factory=list)
    clients: set[str] = field(default_factory=set)  # the client paths tasks ran
    foreign: list[str] = field(default_factory=list)
    reboots: int = 0
    connections: list[asyncssh.SSHServerConnection] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.tmp / "machine"
        self.data = self.root / "var" / "lib" / "patchpilot"
        self.data.mkdir(parents=True)
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        self.state = self.tmp / "wua-state.json"
        self.marker = self.tmp / "reboot-requested"
        machine = FakeWindows(load_scenario(str(self.scenario)))
        self.state.write_text(json.dumps(machine.dump_state()))
        values = {"python": sys.executable, "stub": STUB, "scenario": self.scenario,
                  "state": self.state, "marker": self.marker}  # fmt: skip
        for name, body in SHIMS.items():
            shim = self.bin / name
            shim.write_text("#!/bin/sh\n" + body.format(**values))
            shim.chmod(0o755)

    # -- the SSH server ---------------------------------------------------------------------

    async def listen(self, client_key: asyncssh.SSHKey) -> tuple[asyncssh.SSHAcceptor, int, str]:
        """Start the SSH server; return it, its port and a known_hosts line for it."""
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        authorized = self.tmp / "authorized_keys"
        authorized.write_bytes(client_key.export_public_key())
        emulator = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                emulator.connections.append(conn)

        acceptor = await asyncssh.create_server(
            Server,
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_client_keys=str(authorized),
            process_factory=self.serve,
            encoding=None,
        )
        port = acceptor.sockets[0].getsockname()[1]
        return acceptor, port, f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}"

    async def serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Run one command as Windows would: only PowerShell scripts are understood."""
        tokens = (process.command or "").split()
        if tokens[:1] != ["powershell.exe"] or tokens[-2:-1] != ["-EncodedCommand"]:
            self.foreign.append(process.command or "")
            process.stderr.write(b"is not recognized as an internal or external command\r\n")
            process.exit(1)
            return
        script = base64.b64decode(tokens[-1]).decode("utf-16-le")
        kind, literals = script_kind(script), split_literals(script)[1]
        try:
            if kind == "relay":
                process.exit(await self._relay(process, literals[1]))
                return
            data = await process.stdin.read() if kind == "write_file" else b""
            answer = await self._answer(kind, literals, data)
        except OSError as exc:
            process.stderr.write(f"{type(exc).__name__}: {exc}\r\n".encode())
            process.exit(1)
            return
        process.stdout.write(json.dumps(answer).encode() + b"\r\n")
        process.exit(0)

    # -- the scripts ------------------------------------------------------------------------

    def local(self, path: str) -> Path:
        """Return where a `C:\\ProgramData\\patchpilot\\...` path lives on this machine.

        A connector script naming any other path (a UNC share, say) is recorded in foreign
        and fails, as it would in a session that cannot reach it.
        """
        if not path.lower().startswith(DATA_ROOT.lower() + "\\"):
            self.foreign.append(f"a script used {path}")
            raise PermissionError(f"access denied: {path}")
        return self.data.joinpath(*path[len(DATA_ROOT) + 1 :].split("\\"))

    async def _answer(self, kind: str, literals: list[str], data: bytes) -> dict[str, Any]:
        if kind == "available":
            return {"ok": True}
        if kind == "prepare_root":
            return {"refused": None}
        if kind == "write_file":
            target = self.local(next(v for v in literals if v.startswith(DATA_ROOT + "\\")))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(data))
            target.chmod(0o600)
            return {"written": target.stat().st_size}
        if kind == "hash":
            path = self.local(literals[1])
            found = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            return {"sha256": found}
        if kind == "boot":
            return {"boot": self.boot.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if kind == "move":
            self.local(literals[1]).replace(self.local(literals[2]))
            return {"moved": True}
        if kind == "discard":
            self.local(literals[1]).unlink(missing_ok=True)
            return {"removed": True}
        if kind == "readiness":
            return {"logonui": True, "desktop": False, "servicing": 0, "tiworker": False}
        if kind == "register":
            await self._start(literals[1], [literals[3], *literals[4].split()])
            return {"registered": True}
        if kind == "task_info":
            return self._task_info(literals[1])
        if kind == "unregister":
            task = self.tasks.pop(literals[1], None)
            if task and task.process and task.process.returncode is None:
                task.process.kill()
                await task.process.wait()
            return {"removed": True}
        if kind in ("take", "read"):
            path = self.local(literals[1])
            text = path.read_text() if path.is_file() else None
            if kind == "take" and text is not None:
                path.unlink()
            return {"text": text}
        assert kind == "pipe_live", kind
        return {"live": self._endpoint(literals[1]).exists()}

    def _task_info(self, name: str) -> dict[str, Any]:
        task = self.tasks.get(name)
        if task is None or task.process is None:
            return {"exists": False}
        code = task.process.returncode
        if code is None:
            return {"exists": True, "state": "Running", "last_result": 0x41301}
        return {"exists": True, "state": "Ready", "last_result": code & 0xFFFFFFFF}

    async def _start(self, name: str, command: list[str]) -> None:
        """Run a task's command now, as SYSTEM would: the production command line, with this
        machine's python3 standing for the python.exe it names."""
        if command[0] == "powershell.exe":  # the only task script: copy the UNC client in
            literals = split_literals(base64.b64decode(command[-1]).decode("utf-16-le"))[1]
            target = self.local(literals[2])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Path(self._arg(literals[1])).read_bytes())
            done = await asyncio.create_subprocess_exec("true")
            await done.wait()
            self.tasks[name] = Task(command, done)
            return
        assert command[0] == self.python, command
        self.verbs.append(command[4])
        self.clients.add(command[3])
        argv = [PYTHON, *(self._arg(a) for a in command[1:])]
        env = {"PATCHPILOT_ROOT": str(self.root), "PATCHPILOT_BACKEND": "wua",
               "PATH": str(self.bin), "LANG": "C.UTF-8"}  # fmt: skip
        log = (self.tmp / f"{name}.log").open("ab")
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        self.tasks[name] = Task(command, process)

    def _arg(self, value: str) -> str:
        """Return a task argument as this machine sees it: data folder and shares mapped."""
        if value.startswith(DATA_ROOT + "\\"):
            return str(self.local(value))
        for unc, folder in self.shares.items():
            if value.lower().startswith(unc.lower() + "\\"):
                return str(folder.joinpath(*value[len(unc) + 1 :].split("\\")))
        return value

    def _endpoint(self, pipe: str) -> Path:
        """Return the Unix socket standing for `\\\\.\\pipe\\patchpilot-<run>-<round>-<tag>`."""
        name = pipe.rsplit("\\", 1)[-1].removeprefix("patchpilot-")
        run_id, round_no, _tag = name.rsplit("-", 2)
        return self.data / "runs" / run_id / f"round-{round_no}" / "endpoint.sock"

    async def _relay(self, process: asyncssh.SSHServerProcess[bytes], pipe: str) -> int:
        """Pump bytes between the SSH channel and the round's endpoint, as the relay does."""
        endpoint = self._endpoint(pipe)
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            folder = os.open(endpoint.parent, os.O_RDONLY) if endpoint.parent.exists() else -1
            try:
                short = f"/proc/self/fd/{folder}/{endpoint.name}"
                reader, writer = await asyncio.open_unix_connection(short)
                break
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    process.stderr.write(f"no log endpoint {pipe}\r\n".encode())
                    return 3
                await asyncio.sleep(0.1)
            finally:
                if folder >= 0:
                    os.close(folder)

        async def upstream() -> None:
            while data := await process.stdin.read(65536):
                writer.write(data)
                await writer.drain()

        async def downstream() -> None:
            while data := await reader.read(65536):
                process.stdout.write(data)

        pumps = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        writer.close()
        return 0

    # -- reboots ----------------------------------------------------------------------------

    async def watch_reboots(self) -> None:
        """Restart the machine whenever the client asked for it (until cancelled)."""
        while True:
            if self.marker.exists():
                await self._reboot()
            await asyncio.sleep(0.1)

    async def _reboot(self) -> None:
        for task in self.tasks.values():
            if task.process and task.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    task.process.send_signal(signal.SIGKILL)
                await task.process.wait()
        for socket in self.data.glob("runs/*/round-*/endpoint.sock"):
            socket.unlink()
        shutil.rmtree(self.root / "run", ignore_errors=True)
        machine = FakeWindows(load_scenario(str(self.scenario)))
        machine.load_state(json.loads(self.state.read_text()))
        machine.restart()
        self.state.write_text(json.dumps(machine.dump_state()))
        self.boot += timedelta(hours=1)
        self.reboots += 1
        for conn in self.connections:
            conn.close()
        self.connections.clear()
        self.marker.unlink()

    async def shutdown(self) -> None:
        """Kill whatever still runs (a failed test must not leave processes behind)."""
        for task in self.tasks.values():
            if task.process and task.process.returncode is None:
                task.process.kill()
                await task.process.wait()
