"""What the steps of one run share: `RoundContext`, and the change process's seams.

It sits below every step that takes it (round_loop.py, prescan.py, hooks.py, health.py,
change.py, runner.py), so no step imports the round loop to name its argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from patchpilot.connector.events import EventSink, PhaseStarted, WarningRaised
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.reboot import Clock, RebootPolicy, await_back
from patchpilot.connector.run.stability import PendingStability, WindowWatch
from patchpilot.connector.run.stream import StreamTuning
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, Store
from patchpilot.connector.targets.base import BootProbe, ClientSite, TargetOS
from patchpilot.launchers.base import Launcher
from patchpilot.transports.base import Transport

__all__ = ["RoundContext", "RoundSteps"]


class RoundSteps(Protocol):
    """The operator's change process at the round loop's seams (connector/run/change.py)."""

    def before_round(self, round_no: int) -> None: ...

    async def before_reboot(self, round_no: int) -> bool: ...

    async def after_reboot(self, round_no: int) -> None: ...


@dataclass
class RoundContext:
    """Everything the steps of a round share; one per run."""

    transport: Transport
    launcher: Launcher
    os: TargetOS
    probe: BootProbe
    store: Store
    options: RunOptions
    run_id: str
    target: str
    secret: Secret
    client: str
    emit: EventSink
    clock: Clock = field(default_factory=Clock)
    tuning: StreamTuning = field(default_factory=StreamTuning)
    warnings: list[str] = field(default_factory=list)
    pending: PendingStability | None = None  # a reboot whose stability is still to confirm
    watch: WindowWatch | None = None  # a pending window read alongside the round (Linux)
    change: RoundSteps | None = None  # hooks, health, window (None: plain rounds)
    say_every: float = 50.0  # seconds between "still waiting" lines in the job's output
    progress: dict[int, str] = field(default_factory=dict)  # round -> the last record heard

    @property
    def site(self) -> ClientSite:
        """How this run reaches its client (the OS's client calls and log take it)."""
        return ClientSite(self.transport, self.launcher, self.client, self.run_id)

    def warn(self, round_no: int, message: str) -> None:
        self.warnings.append(message)
        self.emit(WarningRaised(target=self.target, round=round_no, message=message))

    def reboot_policy(self) -> RebootPolicy:
        o = self.options
        return RebootPolicy(
            timeout=o.reboot_timeout,
            readiness_timeout=o.readiness_timeout,
            stability_window=o.stability_window,
        )

    def phase(self, round_no: int, phase: str, detail: str = "") -> None:
        self.emit(PhaseStarted(target=self.target, round=round_no, phase=phase, detail=detail))

    async def await_new_boot(self, row: RoundRow) -> tuple[str, str]:
        """Wait for the target to come back on a new boot (boot id changed, ready), leave its
        stability window pending, and return the new boot id and how it came back.

        The connection is closed first: the reboot ends it anyway, a read over a connection
        whose far end vanished waits for the keepalive to notice, and a login left open is one
        more thing the target's shutdown must stop (docs/lab.md). The boot id reads reconnect.
        """
        await self.transport.close()
        after, detail = await await_back(
            self.transport,
            self.probe,
            row.boot_id_before or "",
            self.reboot_policy(),
            clock=self.clock,
            on_phase=lambda phase, detail: self.phase(row.round, phase, detail),
        )
        self.pending = PendingStability(row.round, after, self.clock.now())
        return after, detail
