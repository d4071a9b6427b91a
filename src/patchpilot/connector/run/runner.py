"""`run_target`: every round of one run on one target, from connect to result.

This is the connector's one entry point for a target; `patchpilot run` and the fleet both
call it. It never raises for what happens on the target: every failure becomes a RunResult
with its outcome and exit code (and is stored), so a caller only renders and exits.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from patchpilot.client_build import build_client
from patchpilot.connector.events import (
    Event,
    JournalRecord,
    RunFinished,
    RunStarted,
    WarningRaised,
    utc_now,
)
from patchpilot.connector.exitcodes import Outcome, outcome_of_error
from patchpilot.connector.options import RunOptions
from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.plan_check import SCAN_EVENTS, security_left_out
from patchpilot.connector.run.change import run_change
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.hooks import record
from patchpilot.connector.run.prepare import (
    patiently,
    prepare_target,
    refuse_foreign_run,
    step,
    target_lock,
)
from patchpilot.connector.run.summary import build_result
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.run_status import RunStatus
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets import TARGETS
from patchpilot.connector.targets.base import ClientArtifact
from patchpilot.connector.targets.interpreter import Interpreter
from patchpilot.errors import (
    ConfigurationError,
    PatchpilotError,
)
from patchpilot.transports.base import Transport

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
    """Return the transport that reaches target (Linux: ssh, or local for `local`;
    Windows: psrp or ssh), as its target family makes it."""
    return TARGETS[options.os].for_run(options, target).make_transport(target, options)


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
        RunStatus.RUNNING.value,
        None,
        utc_now(),
        None,
        json.dumps(options.plan) if options.plan is not None else None,
    )
    store.create_run(row)  # the row as stored: not read back
    return row, False


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
    plan_later: Callable[[], Awaitable[dict[str, str] | None]] | None = None,
) -> None:
    """Prepare (connect, launcher, deploy), claim the target, run the rounds, release it."""
    system = TARGETS[options.os].for_run(options, target)
    transport = transport or system.make_transport(target, options)
    client = client or _default_client(store.folder / "client")
    stored = store.rounds(row.run_id)  # only this run writes them: read once
    # A run resumed with a round in flight (a client running, a reboot under way, a round
    # cut short and not yet run again) waits for an unreachable target as its stream would,
    # instead of ending as unreachable (found by the fault campaign, seed 10: a connector
    # restarted during a link cut ended 69 while its client installed on)
    is_in_flight = any(r.phase is not RoundPhase.DONE for r in stored)
    deadline = time.monotonic() + (options.reboot_timeout if is_in_flight else 0.0)
    try:
        site = await patiently(
            transport,
            deadline,
            lambda: prepare_target(transport, system, client, options, row.run_id),
        )
        await step(
            "prepare.run_id",
            options.launch_timeout,
            refuse_foreign_run(system, site, is_known=bool(stored)),
        )
        if plan_later is not None:  # frozen elsewhere while this target was prepared
            frozen = await plan_later()
            if frozen is not None and row.frozen_plan is None:
                store.set_plan(row.run_id, frozen)
                row = replace(row, plan=json.dumps(frozen))  # as stored: no read back
        ctx = RoundContext(
            transport=transport,
            launcher=site.launcher,
            os=system,
            probe=system.probe(),
            store=store,
            options=options,
            run_id=row.run_id,
            target=row.target,
            secret=row.secret,
            client=site.client,
            emit=on_event,
            warnings=warnings,
        )
        if system.interpreter is not None:  # chosen before any change, said in the journal
            _record_interpreter(ctx, system.interpreter)
        held = target_lock(
            system,
            site,
            timeout=options.launch_timeout,
            deadline=deadline,
            on_release_error=functools.partial(ctx.warn, 0),
        )
        async with held:
            await run_change(ctx, row.frozen_plan)
        _warn_left_out(ctx, options)
    finally:
        await transport.close()


def _record_interpreter(ctx: RoundContext, found: Interpreter) -> None:
    tried = [{"path": path, "found": what} for path, what in found.tried]
    fields = {"path": found.path, "version": found.version, "tried": tried}
    record(ctx, "client.python", "info", fields)


async def run_target(
    target: TargetSpec,
    options: RunOptions,
    *,
    store: Store,
    on_event: Callable[[Event], None],
    transport: Transport | None = None,
    client: ClientArtifact | None = None,
    plan_later: Callable[[], Awaitable[dict[str, str] | None]] | None = None,
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
    round 1 as well; `plan_later()` gives that plan later instead: it is awaited once the
    target is prepared (connected, client deployed), before the lock is claimed, so the
    preparation overlaps the plan scan. `transport` and `client` default to the target's
    SSH/local transport and the client built from this source tree.
    """
    row, is_resumed = _open_run(target, options, store)
    if not row.is_resumable:
        return RunResult.from_dict(store.result(row.run_id) or {})
    if row.run_status is not RunStatus.RUNNING:  # a running row has no result to clear
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
    for message in (*TARGETS[options.os].warnings_for(options), *options.restart_warnings()):
        warnings.append(message)
        on_event(WarningRaised(target=target.name, round=0, message=message))
    work = _work(
        row,
        options,
        target,
        transport,
        client,
        store=store,
        on_event=on_event,
        warnings=warnings,
        plan_later=plan_later,
    )
    try:
        failure = await _attempt(work, row.run_id, options.timeout)
    except asyncio.CancelledError:
        _finish(store, row, options, warnings, on_event, _Failure(Outcome.CANCELLED, "cancelled"))
        raise
    return _finish(store, row, options, warnings, on_event, failure)


def _warn_left_out(ctx: RoundContext, options: RunOptions) -> None:
    """Warn about security updates this server offers that a plan chosen elsewhere left out."""
    if options.plan is None:
        return
    scans = ctx.store.iter_records(ctx.run_id, 1, events=SCAN_EVENTS)
    left = security_left_out(scans, options.plan)
    if left:
        shown = ", ".join(left[:20]) + (f" and {len(left) - 20} more" if len(left) > 20 else "")
        ctx.warn(
            1,
            f"the fleet's frozen plan leaves out {len(left)} security update(s) this server "
            f"offers: {shown}",
        )


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
