"""The `Lab` facade: start, inspect, control and stop one lab from any process.

`Lab(directory)` is cheap and attaches to whatever runs there. `up` checks the machine
(root, tools), cleans what a crashed run of the same folder left, builds or reuses the base
image, picks a free subnet and creates the bridge under the machine-wide lock, publishes the
catalog, then starts the detached supervisor and asks it for servers. Every later call is a
request to that supervisor, so the CLI and the pytest fixtures drive the same lab the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patchpilot.lab.base import DEFAULT_CACHE, ensure_base
from patchpilot.lab.catalog import CATALOG, CONFFILE_PATH, OPT_IN_INITIAL
from patchpilot.lab.controls import send_request
from patchpilot.lab.debian_tools import TOOLS_SUITE, needrestart_debs
from patchpilot.lab.errors import LabError
from patchpilot.lab.flavors import (
    check_release,
    ensure_rpm_repo,
    flavor_base,
    flavor_sequence,
    opt_in_rpm_url,
)
from patchpilot.lab.layout import LabLayout
from patchpilot.lab.limits import release_limits
from patchpilot.lab.network import (
    LabNetwork,
    choose_index,
    create_bridge,
    delete_bridge,
    global_lock,
    preferred_index,
    used_networks,
)
from patchpilot.lab.releases import DEFAULT_RELEASE
from patchpilot.lab.repo import Repository
from patchpilot.lab.rpmcatalog import RPM_OPT_IN_INITIAL
from patchpilot.lab.server import Server
from patchpilot.lab.tools import (
    VM_TOOLS,
    generate_key,
    locked,
    require_root,
    require_tools,
    run,
)
from patchpilot.lab.vm import SLOT_WAIT
from patchpilot.lab.vmimage import ensure_vm_image, kernel_update

__all__ = ["REPO_PORT", "Lab", "ServerStatus"]

REPO_PORT = 8080
START_TIMEOUT = 30.0
STOP_TIMEOUT = 90.0
LAB_PROCESSES = (b"patchpilot.lab.supervisor", b"systemd-nspawn", b"qemu-system")


class ServerStatus(dict[str, Any]):
    """One server as the supervisor reports it: name, address, state, boot_id, cut."""


class Lab:
    """One lab of real servers kept in a folder (see module docstring)."""

    def __init__(self, directory: Path, *, cache: Path = DEFAULT_CACHE) -> None:
        self.directory = directory.resolve()
        self.layout = LabLayout(self.directory)
        self.cache = cache

    # -- files -----------------------------------------------------------------------------

    @property
    def ssh_config_path(self) -> Path:
        return self.layout.ssh_config

    @property
    def known_hosts_path(self) -> Path:
        return self.layout.known_hosts

    @property
    def key_path(self) -> Path:
        return self.layout.key

    @property
    def inventory_path(self) -> Path:
        return self.layout.inventory

    @property
    def repo(self) -> Repository:
        """The lab's apt repository (publish new packages or versions while servers run)."""
        config = json.loads(self.layout.config.read_text())
        url = f"http://{LabNetwork(int(config['index'])).gateway}:{config['port']}/"
        return Repository(self.layout.repo, url)

    # -- lifecycle ---------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Return True when this folder's supervisor answers."""
        if not self.layout.control.exists():
            return False
        try:
            self._request("ping", timeout=5)
        except LabError:
            return False
        return True

    def up(
        self,
        servers: int = 0,
        *,
        vms: int = 0,
        rebuild_base: bool = False,
        owner: int | None = None,
        flavor: str = "apt",
        release: str = DEFAULT_RELEASE,
    ) -> list[Server]:
        """Start the lab with that many servers (and VMs); refuse when it already runs.

        With owner (a process id), the lab shuts itself down when that process ends, even if
        it is killed: the pytest fixture ties the session's lab to pytest this way.
        flavor: apt, dnf (alias rpm), zypper, or mixed (see `flavors.py`); release: the
        servers' Debian (bullseye, bookworm, trixie; see `releases.py`).
        """
        flavor_sequence(flavor, servers)  # refuse an unknown flavor before anything starts
        check_release(flavor, release)
        require_root()
        require_tools()
        with self._folder_lock():
            if self.is_running():
                raise LabError(
                    f"a lab is already running in {self.directory} (`patchpilot lab down`)"
                )
            self.clean_stale()
            base = ensure_base(self.cache, rebuild=rebuild_base)
            self._ensure_key()
            self._claim_network(base, owner)
            try:
                self.repo.publish_all(CATALOG)
                self._spawn_supervisor()
            except BaseException:
                self.clean_stale()
                raise
        try:
            started = self.add_servers(servers, flavor=flavor, release=release) if servers else []
            return started + [self.add_vm() for _ in range(vms)]
        except BaseException:
            self.down()
            raise

    def _folder_lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold this lab folder's lock: one `up` or `down` at a time per folder."""
        return locked(self.directory / ".lock")

    def _claim_network(self, base: Path, owner: int | None) -> None:
        with global_lock():
            network = LabNetwork(choose_index(used_networks(), preferred_index(self.directory)))
            create_bridge(network)
        config = {"index": network.index, "base": str(base), "port": REPO_PORT, "owner": owner}
        self.layout.config.write_text(json.dumps(config))

    def _ensure_key(self) -> None:
        if not self.layout.key.exists():
            generate_key(self.layout.key, comment="patchpilot-lab")

    def _spawn_supervisor(self) -> None:
        """Start the supervisor detached (not our child: it outlives this process)."""
        self.layout.pid.unlink(missing_ok=True)
        argv = [
            *("setsid", "--fork"),
            *("unshare", "--mount", "--propagation", "slave", "--"),
            *(sys.executable, "-m", "patchpilot.lab.supervisor", str(self.directory)),
        ]
        with self.layout.log.open("ab") as log:
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.is_running():
                return
            if self.layout.pid.exists() and not _is_alive(int(self.layout.pid.read_text())):
                raise LabError(f"the lab supervisor failed to start: {self._log_tail()}")
            time.sleep(0.05)
        raise LabError(
            f"the lab supervisor did not answer in {START_TIMEOUT:g} s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.layout.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:])

    def down(self) -> None:
        """Stop every server and remove the lab's bridge, namespaces, mounts and processes."""
        require_root()
        with self._folder_lock():
            if self.is_running():
                pid = int(self._request("ping")["pid"])
                self._request("shutdown")
                _wait_gone(pid, STOP_TIMEOUT)
            self.clean_stale()

    def clean_stale(self) -> None:
        """Remove what a crashed lab in this folder left: processes, bridge, servers, repo."""
        for pid_file in [self.layout.pid, *self.layout.servers.glob("*/boot.pid")]:
            _kill_pid_file(pid_file, self.directory)
        if self.layout.config.exists():
            config = json.loads(self.layout.config.read_text())
            delete_bridge(LabNetwork(int(config["index"])))
        release_limits(str(self.directory))
        for path in (self.layout.servers, self.layout.repo, self.layout.netns):
            shutil.rmtree(path, ignore_errors=True)
        for path in (self.layout.control, self.layout.pid, self.layout.state):
            path.unlink(missing_ok=True)

    # -- servers -----------------------------------------------------------------------------

    @property
    def servers(self) -> list[Server]:
        """The servers of the running lab, in the order they were added."""
        return [_server(item) for item in self.status()]

    def status(self) -> list[ServerStatus]:
        """Every server with its state, boot id and whether its link is cut."""
        return [ServerStatus(item) for item in self._request("status")["servers"]]

    def server(self, name: str) -> Server:
        """Return the server called name; raise LabError when there is none."""
        for server in self.servers:
            if server.name == name:
                return server
        raise LabError(f"no server {name!r} in this lab")

    def add_servers(
        self, count: int, *, flavor: str = "apt", release: str = DEFAULT_RELEASE
    ) -> list[Server]:
        """Start count more fresh servers (booted in parallel) and return them once SSH answers.

        flavor: apt, dnf (alias rpm), zypper or mixed; an RPM flavor's image is built on first
        use (a few minutes) and the RPM repositories published. release: an apt server's
        Debian (bullseye, bookworm, trixie); another than bookworm's image is built on first
        use (1-3 min).
        """
        started: list[Server] = []
        flavors = flavor_sequence(flavor, count)
        check_release(flavor, release)
        for kind in dict.fromkeys(flavors):
            base = flavor_base(kind, self.cache, release)
            if base is not None and kind != "apt":
                ensure_rpm_repo(self.layout.repo)
            fields: dict[str, str] = {"flavor": kind, "release": release}
            if base is not None:
                fields["base"] = str(base)
            number = flavors.count(kind)
            reply = self._request("add", count=number, timeout=60 + 2 * number, **fields)
            started += [_server(item) for item in reply["servers"]]
        return started

    def add_server(self, *, flavor: str = "apt", release: str = DEFAULT_RELEASE) -> Server:
        """Start one more fresh server (its own new overlay) and return it once SSH answers."""
        return self.add_servers(1, flavor=flavor, release=release)[0]

    def add_vm(self) -> Server:
        """Start a qemu VM and return it once SSH answers.

        At most 2 VMs run on the machine at once (all labs together): this waits for a free
        slot. The VM image is built on first use (a few minutes). When the Debian mirror has
        a newer kernel than the image's, the lab repository offers it (Debian's own packages).
        """
        require_tools(VM_TOOLS)
        image = ensure_vm_image(self.cache)
        if (update := kernel_update(self.cache)) is not None:
            kernel, debs = update
            suite = "bookworm-security" if kernel.suite == "bookworm-security" else "bookworm"
            self.repo.publish_debs(debs, suite)
        reply = self._request("add_vm", image=str(image), timeout=SLOT_WAIT + 600)
        return _server(reply["servers"][0])

    def remove_server(self, name: str) -> None:
        """Stop a server and delete its disk layer."""
        self._request("remove", name=name)

    def start(self, name: str, *, timeout: float = 60.0) -> str:
        """Boot a server that is down (e.g. after `hang(name, None)`); return its boot id."""
        reply = self._request("start", name=name, wait_timeout=timeout, timeout=timeout + 10)
        return str(reply["boot_id"])

    # -- controls ----------------------------------------------------------------------------

    def reboot(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> str | None:
        """Reboot a server cleanly; with wait, return the new boot id once SSH answers."""
        fields = {"name": name, "wait": wait, "wait_timeout": timeout}
        reply = self._request("reboot", timeout=timeout + 10, **fields)
        return None if reply.get("boot_id") is None else str(reply["boot_id"])

    def hang(self, name: str, seconds: float | None) -> None:
        """At the server's next reboot, stay down seconds (None: never come back)."""
        self._request("hang", name=name, seconds=seconds)

    def cut(self, name: str) -> None:
        """Take the server's network link down (connections hang, nothing answers)."""
        self._request("cut", name=name)

    def restore(self, name: str) -> None:
        """Bring a cut server's network link back up."""
        self._request("restore", name=name)

    def boot_id(self, name: str) -> str | None:
        """Return the server's current boot id (None while it is down or rebooting)."""
        for item in self.status():
            if item["name"] == name:
                return None if item["boot_id"] is None else str(item["boot_id"])
        raise LabError(f"no server {name!r} in this lab")

    # -- inside a server -----------------------------------------------------------------------

    def ssh(
        self,
        name: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 120.0,
        user: str = "root",
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on a server over SSH with the lab's config (as root, or user)."""
        remote = shlex.join(argv)
        config = ["-F", str(self.layout.ssh_config), "-o", "BatchMode=yes", "-l", user]
        return run(["ssh", *config, name, remote], check=check, timeout=timeout)

    def install_opt_in(self, server: Server | str, package: str) -> None:
        """Put an opt-in package's old version on a server (for lab-conffile, modify it too)."""
        name = server if isinstance(server, str) else server.name
        if package.startswith("rpm:"):  # an RPM server: the old versions straight from the repo
            fetch = "import sys, urllib.request as u; u.urlretrieve(sys.argv[1], sys.argv[2])"
            paths = []
            for wanted in (*RPM_OPT_IN_INITIAL[package[4:]].requires, package[4:]):
                url, path = opt_in_rpm_url(self.repo.url, wanted), f"/tmp/{wanted}.rpm"
                self.ssh(name, ["python3", "-c", fetch, url, path])
                paths.append(path)
            self.ssh(name, ["rpm", "-i", *paths])
            return
        if package not in OPT_IN_INITIAL:
            raise LabError(f"{package!r} is not an opt-in package ({', '.join(OPT_IN_INITIAL)})")
        pinned = [
            f"{p}={OPT_IN_INITIAL[p].version}" for p in (*OPT_IN_INITIAL[package].depends, package)
        ]
        script = (
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
            f"apt-get install -y -qq {' '.join(pinned)}"
        )
        if package == "lab-conffile":
            script += f" && echo '# changed locally' >> {CONFFILE_PATH}"
        self.ssh(name, ["sh", "-c", script])

    def offer_needrestart(self, server: Server | str) -> None:
        """Let a server install Debian's needrestart: publish it in the `lab-tools` suite (once
        downloaded from the machine's mirror: debian_tools.py) and point the server at it."""
        name = server if isinstance(server, str) else server.name
        self.repo.publish_debs(needrestart_debs(self.cache), TOOLS_SUITE)
        line = self.repo.sources_list((TOOLS_SUITE,)).strip()
        listed = f"echo '{line}' > /etc/apt/sources.list.d/{TOOLS_SUITE}.list"
        self.ssh(name, ["sh", "-c", f"{listed} && apt-get update -qq"])

    def _request(self, op: str, *, timeout: float = 120.0, **fields: Any) -> dict[str, Any]:
        if not self.layout.control.exists():
            raise LabError(f"no lab is running in {self.directory} (`patchpilot lab up`)")
        return send_request(self.layout.control, {"op": op, **fields}, timeout=timeout)


def _server(item: dict[str, Any]) -> Server:
    flavor = str(item.get("flavor", "apt"))
    release = str(item.get("release", DEFAULT_RELEASE))
    return Server(
        item["name"], item["address"], int(item["ssh_port"]), item["kind"], flavor, release
    )


def _kill_pid_file(pid_file: Path, directory: Path) -> None:
    """Kill the process a pid file names if it still is one of this lab's, and wait for it."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    folder = str(directory).encode()
    is_ours = folder + b"/" in cmdline or folder + b"\0" in cmdline
    if is_ours and any(mark in cmdline for mark in LAB_PROCESSES):
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            if _wait_gone(pid, 10.0, check=False):
                return


def _wait_gone(pid: int, timeout: float, *, check: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() > deadline:
            if check:
                raise LabError(f"lab process {pid} did not stop within {timeout:g} s")
            return False
        time.sleep(0.05)
    return True


def _is_alive(pid: int) -> bool:
    """Return True while pid runs (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
