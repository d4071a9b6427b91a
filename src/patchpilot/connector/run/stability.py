"""The stability window, paid in parallel with the next round's preparation.

A reboot is proven by a new boot id, readiness, and the same boot id again a stability
window later. The last read need not block the connector: once the target is ready, the
round's cleanup and the next round's preparation (the scan, the job spec) run while the
window elapses; `confirm_stable` then waits what is left of it and re-reads the boot id at
the point where it matters: right before the next launch, and before the run ends (and so
before the lock is released). A target that rebooted again inside the window is caught there
and waited for with the full serial proof (new boot id, readiness, stability), as before.
"""

from __future__ import annotations

from dataclasses import dataclass

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

__all__ = ["PendingStability", "Settled", "confirm_stable"]


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
    remaining = pending.since + policy.stability_window - clock.now()
    if remaining > 0:
        await clock.sleep(remaining)
    again = await read_boot_id(probe, transport, 30)
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
