"""The stability window, paid while the connector goes on.

A reboot is proven by a new boot id, readiness, and the same boot id again a stability
window later. The last read need not block the connector. On Linux (`TargetOS.
watches_window`) the next round is prepared and launched at once, and `WindowWatch` reads
the boot id when the window ends, alongside that round; a reboot inside the window cuts the
round, which the round's own detection (interruption.py) records and recovers as an
interrupted round. On Windows the next round is only prepared meanwhile: `confirm_stable`
waits what is left of the window and re-reads the boot id right before the next launch.
Either way the window is settled before the run ends (and so before the lock is released),
and a target that rebooted again inside it, with no round cut, gets the full serial proof
(new boot id, readiness, stability), as before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from patchpilot.connector.run.reboot import (
    Clock,
    RebootPolicy,
    read_boot_id,
    wait_ready,
    wait_stable,
)
from patchpilot.connector.targets.base import BootProbe
from patchpilot.errors import RebootError
from patchpilot.transports.base import Transport

__all__ = ["PendingStability", "Settled", "WindowWatch", "confirm_stable"]


@dataclass(frozen=True)
class PendingStability:
    """A reboot that is proven up to readiness: boot id `boot_id`, ready at `since`."""

    round: int
    boot_id: str
    since: float  # Clock.now() when the target was found ready


@dataclass(frozen=True)
class Settled:
    """The stable boot id, and whether the target rebooted again inside the window."""

    boot_id: str
    rebooted_again: bool


async def window_end_read(
    transport: Transport,
    probe: BootProbe,
    pending: PendingStability,
    policy: RebootPolicy,
    clock: Clock,
) -> str | None:
    """Wait out the rest of the window; return the boot id read then (None: unreadable)."""
    remaining = pending.since + policy.stability_window - clock.now()
    if remaining > 0:
        await clock.sleep(remaining)
    return await read_boot_id(probe, transport, 30)


@dataclass
class WindowWatch:
    """A pending window read alongside the next round (Linux): `start`, then `settle` (or
    `drop`, when a proof of its own supersedes it: the round rebooted, or was cut by one)."""

    pending: PendingStability
    read: asyncio.Task[str | None] = field(repr=False)

    @classmethod
    def start(
        cls,
        transport: Transport,
        probe: BootProbe,
        pending: PendingStability,
        policy: RebootPolicy,
        clock: Clock,
    ) -> WindowWatch:
        work = window_end_read(transport, probe, pending, policy, clock)
        return cls(pending, asyncio.create_task(work))

    async def settle(
        self, transport: Transport, probe: BootProbe, policy: RebootPolicy, clock: Clock
    ) -> Settled:
        """Wait for the window's read, then conclude as `confirm_stable` does."""
        again = await self.read
        return await _conclude(transport, probe, self.pending, again, policy, clock)

    def drop(self) -> None:
        self.read.cancel()


async def confirm_stable(
    transport: Transport,
    probe: BootProbe,
    pending: PendingStability,
    policy: RebootPolicy,
    clock: Clock,
) -> Settled:
    """Wait out the rest of the window, then prove the boot id held; see module docstring.

    Raises what the serial proof raises (RebootError, PhaseTimeout) when a second reboot
    does not complete in time.
    """
    again = await window_end_read(transport, probe, pending, policy, clock)
    return await _conclude(transport, probe, pending, again, policy, clock)


async def _conclude(
    transport: Transport,
    probe: BootProbe,
    pending: PendingStability,
    again: str | None,
    policy: RebootPolicy,
    clock: Clock,
) -> Settled:
    """Prove the boot id held from the window's read `again` (the serial proof if not)."""
    if again is None:  # down: a second reboot in progress, or only the link dropped
        again = await _read_eventually(transport, probe, policy, clock)
    if probe.same_boot(again, pending.boot_id):
        return Settled(pending.boot_id, rebooted_again=False)
    await wait_ready(transport, probe, policy, clock)
    return Settled(await wait_stable(transport, probe, again, policy, clock), rebooted_again=True)


async def _read_eventually(
    transport: Transport, probe: BootProbe, policy: RebootPolicy, clock: Clock
) -> str:
    """Return the boot id once it can be read again (backing off); RebootError at the timeout."""
    deadline = clock.now() + policy.timeout
    delays = policy.polls.delays()
    while clock.now() < deadline:
        await clock.sleep(min(next(delays), max(deadline - clock.now(), 0.0)))
        got = await read_boot_id(probe, transport, min(deadline - clock.now(), policy.read_timeout))
        if got is not None:
            return got
    raise RebootError(
        f"the target stopped answering inside the stability window and did not come back "
        f"within {policy.timeout:g} s (phase reboot.stability)",
        phase="reboot.stability",
    )
