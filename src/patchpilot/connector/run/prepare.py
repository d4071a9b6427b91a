"""Getting a target ready for a run's rounds: launcher, client, and the per-target lock.

`prepare_target` chooses the launcher and deploys the client; `refuse_foreign_run` refuses a
run id whose rounds ran on the target from another state store; `target_lock` holds the lock
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
    ConfigurationError,
    LaunchError,
    PatchpilotError,
    PhaseTimeout,
    TargetLockedError,
    TransportError,
    TransportTimeout,
)
from patchpilot.launchers import choose_launcher
from patchpilot.transports.base import Transport

__all__ = ["patiently", "prepare_target", "refuse_foreign_run", "target_lock"]

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
    body that fails may have left something in flight (a client still running, a reboot
    under way, a stream lost, a phase timed out): then the lock is kept on purpose, the same
    run id resumes under it, and no other run may start on a target whose round did not end
    cleanly. An error whose `is_target_free` says nothing of the run is left on the target (a
    usage error, also the client's; a client that never started or that ended its round
    itself with an error; a hook, health or window failure) frees the lock: otherwise every
    later run on that target would end 74 until someone removed the lock by hand. A release
    that cannot reach the target is reported through on_release_error, not raised.
    """
    claim = functools.partial(_claim, system, site, timeout=timeout / 3)
    await patiently(site.transport, deadline, lambda: step("prepare.lock", timeout, claim()))
    try:
        yield
    except PatchpilotError as exc:
        if exc.is_target_free:
            await _release(system, site, on_release_error)
        raise
    await _release(system, site, on_release_error)


async def _release(system: TargetOS, site: ClientSite, on_error: Callable[[str], None]) -> None:
    try:
        await system.call_client(site, "unlock", "--run", site.run_id, timeout=120.0)
    except (TransportError, LaunchError) as exc:  # LaunchError: a Windows call's task
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


async def refuse_foreign_run(system: TargetOS, site: ClientSite, *, is_known: bool) -> None:
    """Refuse (ConfigurationError, exit 64) a run new to this store whose round 1 ran already.

    The target keeps a round's files under its run id (`runs/<run>/round-1`), and a client
    started there again continues that journal: a run id reused from another --state-dir (or
    --state-url) would read the earlier run's records as its own, report its result, and
    leave the new client waiting out its ack timeout (300 s). Moving those files aside would
    not be honest either: the other store may still be running that run (the target's lock
    does not tell, it is keyed by the same run id). So nothing is touched, the lock is not
    claimed, and the message names the run and the remedy. is_known: the store has rounds of
    this run (then it is a resume). A client always writes state.json before any change, so
    a job spec written by a connector that died before launching is not mistaken for a run.
    """
    if is_known:
        return
    state = system.round_file(site.run_id, 1, "state.json")
    if await system.read_text(site.transport, state) is None:
        return
    raise ConfigurationError(
        f"run id {site.run_id} already ran on this target ({state}) but this state store "
        "does not know it: it was started from another --state-dir/--state-url (and may still "
        f"be running there). Resume or read it from that store, or give a new --run-id"
    )
