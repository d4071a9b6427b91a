"""Linux targets: where the client lives, how it gets there, the boot probe, `LinuxOS`.

Clients live at `/var/lib/patchpilot/client/patchpilot-client-<sha256[:16]>.pyz` (a 0700
folder of root's) and are reused while their SHA-256 matches. With `--client-path` the target
copies the shared file there itself, the connector checks the SHA-256 of that copy, and only
the copy ever runs: what was checked is what runs, in every round, scan, lock and attach,
whatever happens to the share meanwhile. A copy that does not match is deleted and the run
refused. A boot id
is `/proc/sys/kernel/random/boot_id`; readiness is `systemctl is-system-running`.
"""

from __future__ import annotations

import posixpath
import re
import secrets
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from patchpilot.connector.target_family import register_family
from patchpilot.connector.targets.base import (
    ISOLATED,
    BootProbe,
    ClientArtifact,
    ClientSite,
    Readiness,
    TargetOS,
)
from patchpilot.connector.targets.interpreter import CANDIDATES, Interpreter, find_interpreter
from patchpilot.errors import ConfigurationError, LaunchError, PatchpilotError, TransportError
from patchpilot.launchers.base import Launcher, TaskHandle
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.local import LocalSettings, LocalTransport
from patchpilot.transports.ssh import SSHSettings, SSHTransport

if TYPE_CHECKING:
    from patchpilot.connector.options import RunOptions
    from patchpilot.connector.target_spec import TargetSpec

__all__ = ["LinuxBootProbe", "LinuxOS", "pushed_path"]

CLIENT_DIR = "/var/lib/patchpilot/client"
RUNS_DIR = "/var/lib/patchpilot/runs"
# Ansible's words for "find one", as `ansible_python_interpreter` may say them.
_ANSIBLE_AUTO = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
_READY_STATES = ("running", "degraded")
_PROBE_TIMEOUT = 20.0


def pushed_path(sha256: str) -> str:
    return f"{CLIENT_DIR}/patchpilot-client-{sha256[:16]}.pyz"


def round_dir(run_id: str, round_no: int) -> str:
    return posixpath.join(RUNS_DIR, run_id, f"round-{round_no}")


def client_argv(python: str, client: str, *args: str) -> list[str]:
    """Return the argv that runs the client zipapp with args on the target, isolated."""
    return [python, *ISOLATED, client, *args]


def asked_python(options: RunOptions, target: TargetSpec) -> str | None:
    """Return the interpreter asked for: --python (or the inventory's patchpilot_python),
    else the inventory's ansible_python_interpreter; None means discover one.

    Raise ConfigurationError for a path that is not absolute (the target's PATH never decides
    what runs as root).
    """
    python = options.python or target.vars.get("ansible_python_interpreter")
    if python is None or python in _ANSIBLE_AUTO:
        return None
    if not isinstance(python, str) or not posixpath.isabs(python):
        raise ConfigurationError(f"--python {python}: give the interpreter's absolute path")
    return python


def parse_sha256sum(exit_status: int, stdout: str) -> str | None:
    """Return the digest from `sha256sum FILE` output, or None if the file was not read."""
    words = stdout.split()
    if exit_status != 0 or not words or len(words[0]) != 64:
        return None
    return words[0].lower()


async def _remote_sha256(transport: Transport, path: str) -> str | None:
    read = await transport.run(["sha256sum", path], timeout=60)
    return parse_sha256sum(read.exit_status, read.stdout)


async def _copy_shared(transport: Transport, shared_path: str, path: str, expected: str) -> None:
    """Copy the shared client into root's client folder, check the copy, then put it in place.

    Raise ConfigurationError (and delete the copy) when it does not hash to expected.
    """
    copy = f"{path}.copy-{secrets.token_hex(4)}"
    await transport.run(["install", "-d", "-m", "0700", CLIENT_DIR], check=True, timeout=60)
    copied = await transport.run(["install", "-m", "0600", "-T", shared_path, copy], timeout=120)
    found = await _remote_sha256(transport, copy) if copied.ok else None
    if found != expected:
        await transport.run(["rm", "-f", copy], timeout=60)
        raise ConfigurationError(
            f"--client-path {shared_path}: SHA-256 is {found or 'unreadable'}, expected "
            f"{expected} (this connector's client); refusing to run a different client"
        )
    await transport.run(["mv", "-f", "-T", copy, path], check=True, timeout=60)


async def deploy_client(
    transport: Transport, artifact: ClientArtifact, *, shared_path: str | None = None
) -> str:
    """Return the path of the verified client on the target: pushed, or copied from the share.

    Raise ConfigurationError when a shared client does not match the expected SHA-256.
    """
    expected = artifact.sha256.lower()
    path = pushed_path(expected)
    if shared_path is not None:
        await _copy_shared(transport, shared_path, path, expected)
        return path
    if await _remote_sha256(transport, path) != expected:
        await transport.put(artifact.path.read_bytes(), path, mode=0o600)
        if await _remote_sha256(transport, path) != expected:
            raise LaunchError(f"pushed client {path} does not hash to {expected}")
    return path


def parse_boot_id(exit_status: int, stdout: str) -> str | None:
    """Return the boot id from a read's result, or None unless it succeeded with a value."""
    value = stdout.strip()
    if exit_status != 0 or not value or len(value.split()) != 1:
        return None
    return value


def parse_system_state(exit_status: int, stdout: str) -> Readiness:
    """Map `systemctl is-system-running` to readiness (running or degraded is ready)."""
    state = stdout.strip() or f"exit status {exit_status}"
    if exit_status == 127 or state == "offline":  # no systemctl, or systemd is not PID 1
        return Readiness(True, f"no systemd ({state})")
    return Readiness(state in _READY_STATES, state)


class LinuxBootProbe(BootProbe):
    async def boot_id(self, transport: Transport) -> str:
        read = await transport.run(
            ["cat", "/proc/sys/kernel/random/boot_id"], timeout=_PROBE_TIMEOUT
        )
        value = parse_boot_id(read.exit_status, read.stdout)
        if value is None:
            raise TransportError(f"cannot read the boot id: {read.stderr.strip() or 'empty'}")
        return value

    async def readiness(self, transport: Transport) -> Readiness:
        read = await transport.run(["systemctl", "is-system-running"], timeout=_PROBE_TIMEOUT)
        return parse_system_state(read.exit_status, read.stdout)


# Prints "<tool> <ID> <VERSION_ID>": the tool the client's `auto` backend would choose.
FAMILY_PROBE = (
    "t=apt; for c in dnf5 dnf zypper; do if command -v $c >/dev/null 2>&1 && "
    "rpm -qa --qf x 2>/dev/null | grep -q x; then t=$c; break; fi; done; "
    '. /etc/os-release 2>/dev/null; echo "$t ${ID:-unknown} ${VERSION_ID:-0}"'
)
UNKNOWN_FAMILY = "unknown"
_FAMILIES = {"apt": "deb", "dnf": "rpm", "dnf5": "rpm", "zypper": "rpm"}
_WORD = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


def parse_family(exit_status: int, stdout: str) -> str:
    """Return `family/ID-VERSION_ID` from the family probe's output, or "unknown"."""
    words = stdout.split()
    if exit_status != 0 or len(words) != 3 or not all(_WORD.match(w) for w in words):
        return UNKNOWN_FAMILY
    tool, distro, version = words
    return f"{_FAMILIES.get(tool, UNKNOWN_FAMILY)}/{distro}-{version}"


_APT = ("apt-python", "apt-cli")
NO_APT_DATES = (
    "apt's metadata has no publication date for a package version (AWS Patch Manager "
    "documents the same limit), so --min-age cannot apply to apt; it needs dnf, zypper or WUA"
)


@register_family
class LinuxOS(TargetOS):
    """Linux: `/var/lib/patchpilot`, the first CPython >= 3.6 found (or the one asked for) with
    `-I -S`, `cat`, sha256sum; reached by ssh or `local`. The default --os."""

    name = "linux"
    is_default = True
    knows_release_dates = True  # dnf, zypper: updateinfo's issued date (apt: refused below)
    launchers = ("auto", "systemd-run", "at")
    transports = ("ssh",)
    # each caps --download-limit: apt Dl-Limit, dnf throttle, zypper max_download_speed
    backends = (*_APT, "dnf", "dnf5", "zypper")
    watches_window = True  # measured: docs/benchmarks.md (Speed II)
    reads_installed = True  # dpkg's status, rpm's database

    @classmethod
    def check_options(cls, options: RunOptions) -> None:
        """Refuse what apt's metadata cannot select by: advisories, release dates."""
        if options.backend in _APT and (options.severity or options.advisory or options.cve):
            raise ValueError(
                "apt has no advisory metadata: "
                "--severity, --advisory and --cve need dnf, zypper or WUA"
            )
        if options.backend in _APT and options.min_age is not None:
            raise ValueError(NO_APT_DATES)

    def __init__(self, python: str | None = None) -> None:
        self.candidates = (python,) if python else CANDIDATES
        self.interpreter: Interpreter | None = None  # found by deploy(), before any change

    @classmethod
    def for_run(cls, options: RunOptions, target: TargetSpec) -> LinuxOS:
        return cls(asked_python(options, target))

    @property
    def python(self) -> str:
        """The client's interpreter: the one found, else the first candidate."""
        return self.interpreter.path if self.interpreter else self.candidates[0]

    def make_transport(self, target: TargetSpec, options: RunOptions) -> Transport:
        if target.transport == "local":
            return LocalTransport(LocalSettings(use_sudo=not target.is_root))
        if target.transport != "ssh":
            raise ConfigurationError(
                f"{target.name}: transport {target.transport!r} is not ssh/local"
            )
        return SSHTransport(
            SSHSettings(
                host=target.host,
                port=target.port,
                user=target.user,
                config_file=options.ssh_config,
                known_hosts=options.known_hosts or target.known_hosts,
                key_file=target.key_file or options.identity_file,
                use_sudo=None if target.user is None else not target.is_root,
            )
        )

    async def package_family(self, target: TargetSpec, options: RunOptions) -> str:
        """Ask the server its package tool and release: `deb/debian-12`, `rpm/rhel-9`."""
        try:
            async with self.make_transport(target, options) as transport:
                done = await transport.run(["sh", "-c", FAMILY_PROBE], timeout=30)
        except PatchpilotError:
            return UNKNOWN_FAMILY  # the server's own run reports why it is unreachable
        return parse_family(done.exit_status, done.stdout)

    def job_spec_extra(self, options: RunOptions) -> Mapping[str, object]:
        """The client's backend when one is forced (apt-python, apt-cli, dnf, dnf5, zypper),
        and --download-limit in bytes per second."""
        extra: dict[str, object] = {"backend": options.backend} if options.backend != "auto" else {}
        if options.download_limit_bytes is not None:
            extra["download_limit"] = options.download_limit_bytes
        return extra

    def selection_extra(self, options: RunOptions) -> Mapping[str, object]:
        """--min-age in the job's selection: the client compares updateinfo's issued dates."""
        return options.age_selection()

    def round_file(self, run_id: str, round_no: int, name: str) -> str:
        return posixpath.join(round_dir(run_id, round_no), name)

    def client_argv(self, client: str, *args: str) -> list[str]:
        return client_argv(self.python, client, *args)

    async def call_client(self, site: ClientSite, *args: str, timeout: float) -> CommandResult:
        return await site.transport.run(self.client_argv(site.client, *args), timeout=timeout)

    async def open_log(
        self, site: ClientSite, round_no: int, task: TaskHandle | None, *, secret: str
    ) -> Stream:
        attach = ("attach", "--run", site.run_id, "--round", str(round_no))
        return await site.transport.open_stream(self.client_argv(site.client, *attach))

    async def read_text(self, transport: Transport, path: str) -> str | None:
        read = await transport.run(["cat", path])
        return read.stdout if read.ok else None

    async def deploy(
        self,
        transport: Transport,
        artifact: ClientArtifact,
        shared_path: str | None,
        launcher: Launcher,
    ) -> str:
        self.interpreter = await find_interpreter(transport, self.candidates)
        return await deploy_client(transport, artifact, shared_path=shared_path)

    def service_check(self, names: Sequence[str]) -> str:
        return "systemctl is-active -- " + " ".join(shlex.quote(n) for n in names)

    def probe(self) -> BootProbe:
        return LinuxBootProbe()
