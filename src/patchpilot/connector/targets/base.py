"""What a run asks of a target family, behind one small interface (`TargetOS`).

The round loop needs, per OS: where a round's files live, the command that runs the client,
how to run a short client command (lock, unlock, scan) and open the round's log, how to read
a file back, how to deploy the client, which boot probe, launcher and transport to use, and
what the OS adds to the job spec. `targets.TARGETS` maps `--os` to the implementation; the
runner looks it up once and never asks which OS it is on again.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from patchpilot.connector.target_family import TargetFamily
from patchpilot.connector.targets.interpreter import Interpreter
from patchpilot.launchers.base import Launcher, TaskHandle
from patchpilot.transports.base import CommandResult, Stream, Transport

if TYPE_CHECKING:
    from patchpilot.connector.options import RunOptions
    from patchpilot.connector.target_spec import TargetSpec

__all__ = ["ISOLATED", "BootProbe", "ClientArtifact", "ClientSite", "Readiness", "TargetOS"]

# The client's interpreter flags: no PYTHON* variables, no user or site packages, no .pth or
# sitecustomize (it runs as root/SYSTEM; the interpreter itself is always an absolute path).
ISOLATED = ("-I", "-S")


class ClientArtifact(Protocol):
    """A built client zipapp (patchpilot.client_build.BuiltClient has this shape)."""

    @property
    def path(self) -> Path: ...

    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class ClientSite:
    """How one run reaches its client: the link, the target's scheduler, the client's path."""

    transport: Transport
    launcher: Launcher
    client: str
    run_id: str


@dataclass(frozen=True)
class Readiness:
    is_ready: bool
    detail: str


class BootProbe(abc.ABC):
    """Read a target's boot identity and whether it has finished starting.

    A boot id only counts when the command that read it succeeded and printed something: a
    failing read is "unreachable", never "changed" (ansible#83018).
    """

    @abc.abstractmethod
    async def boot_id(self, transport: Transport) -> str:
        """Return the current boot's identity; raise TransportError if it cannot be read."""

    @abc.abstractmethod
    async def readiness(self, transport: Transport) -> Readiness:
        """Tell whether the target finished booting (services up, servicing idle)."""

    def same_boot(self, first: str, second: str) -> bool:
        """Tell whether two boot identities read from the target name the same boot."""
        return first == second


class TargetOS(TargetFamily, abc.ABC):
    """The OS-specific steps of a run, for one target; what the run options need of the
    family (its name, own options, launchers, transports, backends, rules) is declared as
    TargetFamily's class attributes, and `@register_family` registers the class."""

    launcher: str = "auto"  # the launcher `auto` means on this OS
    interpreter: Interpreter | None = None  # the client's Python, where the OS looks for one
    # the next round launches while the last reboot's stability window is read alongside
    # it (stability.py); False: the window is waited out before the launch
    watches_window: bool = False
    # its client reads installed package versions (`installed`): a run in doubt (a round cut
    # or failed) builds its result from them (run/settlement.py); False: the rounds' word
    reads_installed: bool = False

    @classmethod
    @abc.abstractmethod
    def for_run(cls, options: RunOptions, target: TargetSpec) -> TargetOS:
        """Return the steps for one run on target, configured from the run's options."""

    @classmethod
    def warnings_for(cls, options: RunOptions) -> list[str]:
        """Return what the run's options weaken on this OS, said at the start of each run."""
        return []

    @abc.abstractmethod
    def make_transport(self, target: TargetSpec, options: RunOptions) -> Transport:
        """Return the transport that reaches target."""

    def job_spec_extra(self, options: RunOptions) -> Mapping[str, object]:
        """Return what this OS adds to the client's job spec (docs/protocol.md)."""
        return {}

    def selection_extra(self, options: RunOptions) -> Mapping[str, object]:
        """Return what this OS adds to the job spec's selection (default: nothing)."""
        return {}

    async def package_family(self, target: TargetSpec, options: RunOptions) -> str:
        """Return the group whose servers share a frozen plan (a fleet's plan per family).

        Default: the OS's name (every Windows server reads the same update catalog).
        """
        return self.name

    @abc.abstractmethod
    def round_file(self, run_id: str, round_no: int, name: str) -> str:
        """Return the path of a round's file (job.json, state.json) on the target."""

    @abc.abstractmethod
    def client_argv(self, client: str, *args: str) -> list[str]:
        """Return the argv that runs the client with args on the target."""

    @abc.abstractmethod
    async def call_client(self, site: ClientSite, *args: str, timeout: float) -> CommandResult:
        """Run a short client command (lock, unlock, scan) and return what it answered."""

    @abc.abstractmethod
    async def open_log(
        self, site: ClientSite, round_no: int, task: TaskHandle | None, *, secret: str
    ) -> Stream:
        """Open a byte stream to the round's log endpoint (the journal protocol runs on it).

        task is the round's client task when known: Windows asks whether it still runs.
        secret is the run's (Windows derives the pipe's unguessable name from it).
        """

    @abc.abstractmethod
    async def read_text(self, transport: Transport, path: str) -> str | None:
        """Return a text file on the target, None when it is absent or unreadable."""

    @abc.abstractmethod
    async def deploy(
        self,
        transport: Transport,
        artifact: ClientArtifact,
        shared_path: str | None,
        launcher: Launcher,
    ) -> str:
        """Return the path of the client that runs: pushed, or a checked copy of the shared one.

        launcher is the target's scheduler (Windows copies a UNC client with a SYSTEM task).
        """

    @abc.abstractmethod
    def probe(self) -> BootProbe: ...

    @abc.abstractmethod
    def service_check(self, names: Sequence[str]) -> str:
        """Return shell text (the target's shell) that exits 0 only when every service runs."""
