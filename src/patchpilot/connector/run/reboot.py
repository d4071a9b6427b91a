"""Reboot verification: the boot id must change, then the target must be ready and stay up.

Three waits, each with its own timeout and name: `reboot.boot_id_change` (bounded back-off),
`reboot.readiness`, `reboot.stability` (the same boot id again a few seconds later, so a
target that reboots twice is not declared back too early). A target whose last answer
still carries the old boot id has not rebooted (a shutdown that hangs with our SSH session
still open, a lost reboot request), and is reported so, at the reboot timeout, not as "did
not come back", even when some reads failed meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from patchpilot.connector.backoff import Backoff
from patchpilot.connector.targets.base import BootProbe
from patchpilot.errors import PhaseTimeout, RebootError, TransportError
from patchpilot.transports.base import Transport

__all__ = ["Clock", "RebootPolicy", "await_back", "await_reboot", "read_boot_id"]


_AWAY = Backoff(jitter=0.1)
_READINESS = Backoff(cap=2.0)


@dataclass(frozen=True)
class RebootPolicy:
    """Timeouts (seconds) of the three waits, and how often each asks again (backoff.py)."""

    timeout: float = 600.0
    readiness_timeout: float = 300.0
    stability_window: float = 5.0
    stability_timeout: float = 120.0
    polls: Backoff = _AWAY  # boot id reads while the target is away
    # Each read while it is away is cut here: a login that reaches a target as it shuts down
    # can hang (pam_systemd's call to a stopping logind waits out D-Bus' 25 s), while a
    # fresh one after the reboot answers at once.
    read_timeout: float = 15.0
    readiness_polls: Backoff = _READINESS  # over the link that already answers


@dataclass(frozen=True)
class Clock:
    """Time as the waits see it; tests pass a fake one."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


PhaseSink = Callable[[str, str], None]


async def read_boot_id(probe: BootProbe, transport: Transport, timeout: float) -> str | None:
    """Return the boot id, or None if it could not be read within timeout seconds."""
    try:
        async with asyncio.timeout(max(timeout, 1.0)):
            return await probe.boot_id(transport)
    except (TransportError, TimeoutError):
        return None


async def wait_boot_id_change(
    transport: Transport, probe: BootProbe, before: str, policy: RebootPolicy, clock: Clock
) -> str:
    """Return the new boot id; raise RebootError (not rebooted / did not come back).

    Reads back off (policy.polls); the last read is at the deadline.
    """
    deadline = clock.now() + policy.timeout
    delays, has_been_down = policy.polls.delays(), False
    while True:
        wait = min(deadline - clock.now(), policy.read_timeout)
        last = await read_boot_id(probe, transport, wait)
        if last is not None and not probe.same_boot(last, before):
            return last
        has_been_down = has_been_down or last is None
        remaining = deadline - clock.now()
        if remaining <= 0:
            break
        await clock.sleep(min(next(delays), remaining))
    if last is not None:  # it answers from the same boot: unreachable for a while is no reboot
        lapses = ", though it did not answer at times" if has_been_down else ""
        raise RebootError(
            f"the target answers but its boot id never changed in {policy.timeout:g} s"
            f"{lapses}: it has not rebooted (phase reboot.boot_id_change)",
            phase="reboot.boot_id_change",
        )
    raise RebootError(
        f"the target did not come back with a new boot id within {policy.timeout:g} s "
        "(phase reboot.boot_id_change)",
        phase="reboot.boot_id_change",
    )


async def wait_ready(
    transport: Transport, probe: BootProbe, policy: RebootPolicy, clock: Clock
) -> str:
    """Return the readiness detail once ready; raise PhaseTimeout("reboot.readiness")."""
    deadline = clock.now() + policy.readiness_timeout
    delays = policy.readiness_polls.delays()
    while True:
        try:
            ready = await probe.readiness(transport)
            if ready.is_ready:
                return ready.detail
        except TransportError:
            pass
        delay = next(delays)
        if clock.now() + delay > deadline:
            raise PhaseTimeout("reboot.readiness", policy.readiness_timeout)
        await clock.sleep(delay)


async def wait_stable(
    transport: Transport, probe: BootProbe, boot_id: str, policy: RebootPolicy, clock: Clock
) -> str:
    """Return the boot id once it is the same after the stability window (it may reboot
    again meanwhile: then the new id must hold); raise PhaseTimeout("reboot.stability")."""
    deadline = clock.now() + policy.stability_timeout
    while True:
        await clock.sleep(policy.stability_window)
        again = await read_boot_id(probe, transport, 30)
        if again is not None and probe.same_boot(again, boot_id):
            return boot_id
        boot_id = again or boot_id
        if clock.now() > deadline:
            raise PhaseTimeout("reboot.stability", policy.stability_timeout)


async def await_reboot(
    transport: Transport,
    probe: BootProbe,
    before: str,
    policy: RebootPolicy,
    *,
    clock: Clock | None = None,
    on_phase: PhaseSink | None = None,
) -> str:
    """Verify a reboot that started (or will) after boot id `before`; return the new boot id."""
    clock = clock or Clock()
    after, detail = await await_back(
        transport, probe, before, policy, clock=clock, on_phase=on_phase
    )
    report = on_phase or (lambda phase, detail: None)
    report("reboot.stability", f"{detail}; checking again in {policy.stability_window:g} s")
    return await wait_stable(transport, probe, after, policy, clock)


async def await_back(
    transport: Transport,
    probe: BootProbe,
    before: str,
    policy: RebootPolicy,
    *,
    clock: Clock,
    on_phase: PhaseSink | None = None,
) -> tuple[str, str]:
    """The first two waits of a reboot's proof: return (new boot id, readiness detail).

    The third, stability, is then the caller's (`await_reboot`, or `stability.py` to overlap
    the window with the next round's preparation).
    """
    report = on_phase or (lambda phase, detail: None)
    report("reboot.boot_id_change", f"waiting up to {policy.timeout:g} s")
    after = await wait_boot_id_change(transport, probe, before, policy, clock)
    report("reboot.readiness", f"new boot id {after}")
    return after, await wait_ready(transport, probe, policy, clock)
