"""`run_target`: every round of one run on one target, from connect to result.

This is the connector's one entry point for a target; `patchpilot run` and the fleet both
call it. It never raises for what happens on the target: every failure becomes a RunResult
with its outcome and exit code (and is stored), so a caller only renders and exits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from patchpilot.client_build import build_client
from patchpilot.connector.deploy import ClientArtifact
from patchpilot.connector.events import Event, JournalRecord, RunFinished, RunStarted, utc_now
from patchpilot.connector.exitcodes import Outcome, outcome_of_error
from patchpilot.connector.options import RunOptions
from patchpilot.connector.report import build_result
from patchpilot.connector.result import RunResult
from patchpilot.connector.rounds import RoundContext, run_rounds
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store
from patchpilot.connector.target import TargetSpec, known_hosts_of
from patchpilot.connector.targetos import ClientSite, TargetOS, target_os, windows_transport
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
from patchpilot.launchers.base import Launcher
from patchpilot.transports.base import Transport
from patchpilot.transports.local import LocalSettings, LocalTransport
from patchpilot.transports.ssh import SSHSettings, SSHTransport

__all__ = ["cancel_stored_run", "make_transport", "new_run_id", "run_target"]

log = logging.getLogger("patchpilot.connector")


class TargetLog(logging.LoggerAdapter[logging.Logger]):
    """The connector's log with `target=` and `run=` context on every line."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = self.extra or {}
        return f"target={extra.get('target')} run={extra.get('run')} {msg}", kwargs


def _logged(on_event: Callable[[Event], None], logger: TargetLog) -> Callable[[Event], None]:
    """Return on_event that also writes each event to the connector's log (records at DEBUG)."""

    def emit(event: Event) -> None:
        level = logging.DEBUG if isinstance(event, JournalRecord) else logging.INFO
        logger.log(level, "%s %s", event.kind, event)
        on_event(event)

    return emit


def make_transport(target: TargetSpec, options: RunOptions) -> Transport:
    """Return the transport that reaches target (ssh, or local for `local`; Windows: psrp/ssh)."""
    if options.os == "windows":
        kind = options.transport or target.transport
        return windows_transport(kind, target.host, target.port, target.user, options)
    if target.transport == "local":
        return LocalTransport(LocalSettings(use_sudo=not target.is_root))
    if target.transport != "ssh":
        raise ConfigurationError(f"{target.name}: transport {target.transport!r} is not ssh/local")
    return SSHTransport(
        SSHSettings(
            host=target.host,
            port=target.port,
            user=target.user,
            config_file=options.ssh_config,
            known_hosts=options.known_hosts or known_hosts_of(target.vars),
            key_file=target.key_file or options.identity_file,
            use_sudo=None if target.user is None else not target.is_root,
        )
    )


@cache
def _default_client(out_dir: Path) -> ClientArtifact:
    return build_client(out_dir)


def new_run_id(target: TargetSpec) -> str:
    """Return a fresh run id: `<target>-<UTC time>-<4 hex>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^A-Za-z0-9._-]", "-", target.name)[:40].lstrip("._-") or "run"
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


def _open_run(target: TargetSpec, options: RunOptions, store: Store) -> tuple[RunRow, bool]:
    """Return the run's stored row (created if new) and whether it is a resumed run."""
    run_id = options.run_id or new_run_id(target)
    found = store.run(run_id)
    if found is not None:
        if found.target != target.name:
            raise ConfigurationError(f"run id {run_id} belongs to target {found.target}")
        return found, True
    options = options.model_copy(update={"run_id": run_id})
    row = RunRow(
        run_id,
        target.name,
        options.mode,
        options.model_dump_json(),
        Secret.generate(),
        "running",
        None,
        utc_now(),
        None,
        None,
    )
    store.create_run(row)
    if options.plan is not None:
        store.set_plan(run_id, options.plan)
    return store.run(run_id) or row, False


async def _lock(
    transport: Transport,
    system: TargetOS,
    launcher: Launcher,
    client: str,
    run_id: str,
    *,
    release: bool,
    timeout: float = 120.0,
) -> None:
    """Claim (or release) the per-target run lock through the client; retry odd failures.

    timeout bounds each of the (up to 3) attempts.

    Raise TargetLockedError when another run holds the target, LaunchError when the client
    keeps failing to answer.
    """
    verb, site = "unlock" if release else "lock", ClientSite(transport, launcher, client, run_id)
    for attempt in range(3):
        done = await system.call_client(site, verb, "--run", run_id, timeout=timeout)
        if done.ok or release:
            return
        if done.exit_status == 3:
            raise TargetLockedError(f"the target is held by another run: {done.stdout.strip()}")
        await asyncio.sleep(1 + attempt)
    raise LaunchError(f"cannot take the target's lock: {done.describe()}")


_T = TypeVar("_T")


async def _prepare(name: str, seconds: float, work: Awaitable[_T]) -> _T:
    """Run one preparation step; its own timeout or a command's names the step (exit 75)."""
    try:
        async with asyncio.timeout(seconds):
            return await work
    except (TimeoutError, TransportTimeout) as exc:
        raise PhaseTimeout(name, seconds) from exc


class _Prepared(NamedTuple):
    launcher: Launcher
    client_path: str


async def _prepare_target(
    transport: Transport,
    system: TargetOS,
    client: ClientArtifact,
    options: RunOptions,
    run_id: str,
    *,
    patience: float,
) -> _Prepared:
    """Connect, choose the launcher, deploy and take the lock.

    A run resumed while its target reboots may find it going down or not yet back: then
    transport failures are retried with bounded back-off for up to `patience` seconds (the
    reboot timeout) instead of ending the run as unreachable.
    """
    deadline, delay = time.monotonic() + patience, 1.0
    chosen = system.launcher if options.launcher == "auto" else options.launcher
    limit = options.launch_timeout
    while True:
        try:
            await transport.connect()
            launcher = await _prepare("prepare.launcher", limit, choose_launcher(transport, chosen))
            path = await _prepare(
                "prepare.deploy", limit, system.deploy(transport, client, options.client_path)
            )
            await _prepare(
                "prepare.lock",
                limit,
                _lock(transport, system, launcher, path, run_id, release=False, timeout=limit / 3),
            )
            return _Prepared(launcher, path)
        except TransportError:
            if time.monotonic() + delay > deadline:
                raise
        await transport.close()
        await asyncio.sleep(delay)
        delay = min(2 * delay, 10.0)


async def _work(
    row: RunRow,
    options: RunOptions,
    target: TargetSpec,
    transport: Transport | None,
    client: ClientArtifact | None,
    *,
    store: Store,
    on_event: Callable[[Event], None],
    warnings: list[str],
) -> None:
    """Connect, pick the launcher, deploy, lock, run the rounds, unlock."""
    transport = transport or make_transport(target, options)
    client = client or _default_client(store.path.parent / "client")
    system = target_os(options, target.user)
    is_mid_reboot = any(r.phase == "rebooting" for r in store.rounds(row.run_id))
    try:
        launcher, path = await _prepare_target(
            transport,
            system,
            client,
            options,
            row.run_id,
            patience=options.reboot_timeout if is_mid_reboot else 0.0,
        )
        ctx = RoundContext(
            transport=transport,
            launcher=launcher,
            probe=system.probe(),
            store=store,
            options=options,
            run_id=row.run_id,
            target=row.target,
            secret=row.secret,
            client=path,
            emit=on_event,
            warnings=warnings,
            os=system,
        )
        await run_rounds(ctx, row.frozen_plan)
        try:
            await _lock(transport, system, launcher, path, row.run_id, release=True)
        except TransportError as exc:
            ctx.warn(0, f"could not release the target's lock: {exc}")
    finally:
        await transport.close()


async def run_target(
    target: TargetSpec,
    options: RunOptions,
    *,
    store: Store,
    on_event: Callable[[Event], None],
    transport: Transport | None = None,
    client: ClientArtifact | None = None,
) -> RunResult:
    """Patch one target: every round of one run, from connect to the stored result.

    `options.run_id` names the run (one is made up when None). Calling again with the run id
    of an unfinished (or cancelled) run resumes it: it re-attaches to the running client or
    waits for the reboot in progress; nothing is installed twice. With the id of a finished
    run it returns the stored result. Events go to `on_event` as they happen (journal records in
    order, once). Failures on the target come back as a RunResult with their outcome and
    exit code, never as exceptions; on cancellation the result is stored (read it with
    `store.result(run_id)`) and CancelledError propagates. The only exception raised is
    ConfigurationError, before anything runs, for a run id stored for another target.
    `options.plan` (a frozen plan chosen elsewhere, e.g. by the fleet's plan host) bounds
    round 1 as well. `transport` and `client` default to the target's SSH/local transport
    and the client built from this source tree.
    """
    row, is_resumed = _open_run(target, options, store)
    if row.status not in ("running", Outcome.CANCELLED.value):
        return RunResult.from_dict(store.result(row.run_id) or {})
    store.reopen_run(row.run_id)
    options = RunOptions.model_validate_json(row.options)
    on_event = _logged(on_event, TargetLog(log, {"target": target.name, "run": row.run_id}))
    on_event(
        RunStarted(
            target=target.name,
            run_id=row.run_id,
            mode=row.mode,
            is_resumed=is_resumed,
            summary=_summary(target, options),
        )
    )
    warnings: list[str] = []
    work = _work(
        row, options, target, transport, client, store=store, on_event=on_event, warnings=warnings
    )
    try:
        failure = await _attempt(work, row.run_id, options.timeout)
    except asyncio.CancelledError:
        _finish(store, row, options, warnings, on_event, _Failure(Outcome.CANCELLED, "cancelled"))
        raise
    return _finish(store, row, options, warnings, on_event, failure)


class _Failure(NamedTuple):
    outcome: Outcome
    error: str
    phase: str | None = None


async def _attempt(work: Awaitable[None], run_id: str, timeout: float | None) -> _Failure | None:
    """Await work within the job's timeout; return how it failed, or None."""
    try:
        async with asyncio.timeout(timeout):
            await work
    except TimeoutError:
        return _Failure(
            Outcome.TIMEOUT, f"the whole job ran out of time (--timeout {timeout} s)", "job"
        )
    except PatchpilotError as exc:
        return _Failure(outcome_of_error(exc), str(exc), getattr(exc, "phase", None))
    except Exception as exc:
        log.exception("internal error in run %s", run_id)
        return _Failure(Outcome.INTERNAL, f"internal error: {exc!r}")
    return None


def _finish(
    store: Store,
    row: RunRow,
    options: RunOptions,
    warnings: list[str],
    on_event: Callable[[Event], None],
    failure: _Failure | None,
) -> RunResult:
    result = build_result(
        store,
        row,
        options,
        warnings=warnings,
        failure=failure.outcome if failure else None,
        error=failure.error if failure else None,
        phase=failure.phase if failure else None,
    )
    store.finish_run(row.run_id, result.to_dict())
    on_event(RunFinished(target=row.target, result=result))
    return result


def _summary(target: TargetSpec, options: RunOptions) -> dict[str, object]:
    keys = ("mode", "reboot", "max_rounds", "launcher", "include", "exclude", "security_only")
    values = {k: getattr(options, k) for k in keys}
    return {"host": target.host, **values}


def cancel_stored_run(store: Store, run_id: str) -> RunResult:
    """Record an unfinished run whose connector is gone as cancelled (the target is not touched)."""
    row = store.run(run_id)
    if row is None:
        raise ConfigurationError(f"no run {run_id!r}")
    options = RunOptions.model_validate_json(row.options)
    result = build_result(
        store,
        row,
        options,
        warnings=[],
        failure=Outcome.CANCELLED,
        error="cancelled by `patchpilot cancel`",
        phase=None,
    )
    store.finish_run(run_id, result.to_dict())
    return result
