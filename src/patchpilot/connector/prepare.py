"""Getting a target ready for a run's rounds: launcher, client, and the per-target lock.

`prepare_target` chooses the launcher and deploys the client; `target_lock` holds the lock
around the rounds (`async with`). Each step has its own timeout and names itself when it runs
out (exit 75); `patiently` retries a step while a target that was rebooting comes back.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from patchpilot.connector.backoff import Backoff
from patchpilot.connector.options import RunOptions
from patchpilot.connector.targets.base import ClientArtifact, ClientSite, TargetOS
from patchpilot.errors import (
    LaunchError,
    PhaseTimeout,
    RoundFailedError,
    TargetLockedError,
    TransportError,
    TransportTimeout,
)
from patchpilot.launchers import choose_launcher
from patchpilot.transports.base import Transport

__all__ = ["patiently", "prepare_target", "target_lock"]

_T = TypeVar("_T")
# A resumed run reconnecting to a target that may be rebooting; jittered widely, since a
# fleet's or a triggerer's waiting runs went down together.
_RECONNECTS = Backoff(first=1.0, factor=2.0, cap=10.0, jitter=0.5)


async def _claim(system: TargetOS, site: ClientSite, *, timeout: float) -> None:
    """Claim the per-target run lock through the client; retry odd failures.

    timeout bounds each of the (up to 3) attempts. Raise TargetLockedError when another run
    holds the target, LaunchError when the client keeps failing to answer.
    """
    for attempt in range(3):
        done = await system.call_client(site, "lock", "--run", site.run_id, timeout=timeout)
        if done.ok:
            return
        if done.exit_status == 3:
            raise TargetLockedError(f"the target is held by another run: {done.stdout.strip()}")
        await asyncio.sleep(1 + attempt)
    raise LaunchError(f"cannot take the target's lock: {done.describe()}")


@asynccontextmanager
async def target_lock(
    system: TargetOS,
    site: ClientSite,
    *,
    timeout: float,
    deadline: float,
    on_release_error: Callable[[str], None],
) -> AsyncIterator[None]:
    """Hold the per-target run lock for the body; release it once the body succeeded.

    The claim is retried like the preparation (until deadline) and bounded by timeout. A
    body that fails keeps the lock on purpose: the same run id resumes under it, and no other
    run may start on a target whose round did not end cleanly. A round the client ended with
    an error of its own (RoundFailedError: e.g. dpkg's lock wait ran out) did end cleanly, so
    the lock is freed and a later run may start. A release that cannot reach the target is
    reported through on_release_error, not raised.
    """
    claim = functools.partial(_claim, system, site, timeout=timeout / 3)
    await patiently(site.transport, deadline, lambda: step("prepare.lock", timeout, claim()))
    try:
        yield
    except RoundFailedError:
        await _release(system, site, on_release_error)
        raise
    await _release(system, site, on_release_error)


async def _release(system: TargetOS, site: ClientSite, on_error: Callable[[str], None]) -> None:
    try:
        await system.call_client(site, "unlock", "--run", site.run_id, timeout=120.0)
    except TransportError as exc:
        on_error(f"could not release the target's lock: {exc}")


async def step(name: str, seconds: float, work: Awaitable[_T]) -> _T:
    """Run one preparation step; its own timeout or a command's names the step (exit 75)."""
    try:
        async with asyncio.timeout(seconds):
            return await work
    except (TimeoutError, TransportTimeout) as exc:
        raise PhaseTimeout(name, seconds) from exc


async def patiently(transport: Transport, deadline: float, step: Callable[[], Awaitable[_T]]) -> _T:
    """Connect and run step; retry transport failures with bounded back-off until deadline.

    A run resumed while its target reboots may find it going down or not yet back: then its
    preparation waits (up to the reboot timeout) instead of ending the run as unreachable.
    """
    delays = _RECONNECTS.delays()
    while True:
        try:
            await transport.connect()
            return await step()
        except TransportError:
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise
            _raise_if_cancelled()
        await transport.close()
        await asyncio.sleep(delay)


def _raise_if_cancelled() -> None:
    """Raise CancelledError when this task was cancelled but an error arrived instead.

    Python 3.11's asyncio.wait_for (asyncssh's connect uses it) drops a cancellation that
    comes while the connection attempt fails: without this check a cancelled run waiting for
    its server would retry until the reboot timeout (an Airflow trigger that never stops).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def prepare_target(
    transport: Transport, system: TargetOS, client: ClientArtifact, options: RunOptions, run_id: str
) -> ClientSite:
    """Choose the launcher and deploy the client; return how this run reaches it."""
    chosen = system.launcher if options.launcher == "auto" else options.launcher
    limit = options.launch_timeout
    launcher = await step("prepare.launcher", limit, choose_launcher(transport, chosen))
    path = await step(
        "prepare.deploy", limit, system.deploy(transport, client, options.client_path, launcher)
    )
    return ClientSite(transport, launcher, path, run_id)
