"""A real Samba server on 127.0.0.1 for tests: a read-only share `patch` and a writable `C$`.

Stands in for the file server that holds the Windows client's UNC share (and for a server's
admin share). Its configuration, password database, locks and logs all live in one folder;
it listens on a free port of loopback only and is stopped (its whole process group) on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["SAMBA_PASSWORD", "SAMBA_USER", "SambaServer", "samba_missing"]

SAMBA_USER = "root"
SAMBA_PASSWORD = "pp-Samba-test-1"  # noqa: S105 - a throwaway account of a loopback test server
_CONF = """[global]
  smb ports = {port}
  bind interfaces only = yes
  interfaces = 127.0.0.1
  private dir = {d}/private
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  log file = {d}/smbd.log
  passdb backend = tdbsam:{d}/private/passdb.tdb
  server role = standalone server
  disable netbios = yes
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
[patch]
  path = {d}/share
  read only = yes
[C$]
  path = {d}/c
  read only = no
"""
_FOLDERS = ("private", "lock", "state", "cache", "pid", "ncalrpc", "share", "c")


def samba_missing() -> str | None:
    """Return why a Samba server cannot run here (no smbd, not root), or None."""
    if shutil.which("smbd") is None:
        return "smbd is not installed (scripts/install.sh installs samba)"
    if os.geteuid() != 0:
        return "smbd needs root"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SambaServer:
    """smbd serving `folder/share` as `patch` (read-only) and `folder/c` as `C$`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.share = folder / "share"
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Write the configuration, add the user and start smbd; return once it listens."""
        for name in _FOLDERS:
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        conf = self.folder / "smb.conf"
        conf.write_text(_CONF.format(port=self.port, d=self.folder))
        subprocess.run(
            ["smbpasswd", "-c", str(conf), "-a", "-s", SAMBA_USER],
            input=f"{SAMBA_PASSWORD}\n{SAMBA_PASSWORD}\n".encode(),
            check=True,
            capture_output=True,
        )
        self._process = subprocess.Popen(
            ["smbd", "--foreground", "--no-process-group", "-s", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # smbd signals its whole process group when it stops
        )
        self._wait_listening(timeout)

    def _wait_listening(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"smbd exited with {self._process.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"smbd did not listen on 127.0.0.1:{self.port} in {timeout:g} s")

    def stop(self) -> None:
        """Stop smbd and its children; safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> SambaServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
