"""One round on one target, as named steps: `launch`, `stream`, `await_reboot`, `verify`.

Each step has its own timeout and raises PhaseTimeout naming itself. A round's progress is
stored after every step (RoundRow.phase, a RoundPhase), so a resumed connector picks up at
the step it was in and never launches a round twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from patchpilot.connector.backoff import Backoff
from patchpilot.connector.events import (
    JournalRecord,
    utc_now,
)
from patchpilot.connector.options import RunOptions
from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.plan import RoundReport, should_continue
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.interruption import (
    Interruption,
    cleanup_tasks,
    detect,
    detect_reboot,
    interruptions,
    recover,
)
from patchpilot.connector.run.interruption import record as record_interruption
from patchpilot.connector.run.own_journal import HOOK_ROUND
from patchpilot.connector.run.prescan import round_plan
from patchpilot.connector.run.settlement import is_in_doubt, read_after_limit, read_installed
from patchpilot.connector.run.stability import PendingStability, WindowWatch, confirm_stable
from patchpilot.connector.run.stream import FINAL_EVENT, AttachTarget, JournalFollower, StreamTuning
from patchpilot.connector.run.summary import round_report
from patchpilot.connector.store import RoundRow
from patchpilot.errors import (
    ConfigurationError,
    LaunchError,
    PhaseTimeout,
    RoundFailedError,
    RoundInterrupted,
    TargetLockedError,
    TooManyInterruptions,
    TransportError,
)
from patchpilot.launchers.base import TaskHandle, TaskState
from patchpilot.protocol import JOB_SPEC_VERSION

__all__ = ["run_rounds"]

_STARTING = Backoff(first=0.05, factor=1.5, cap=1.0)
# the client's phases once its final record is written (state.json): the stream delivers it
_RESULT_WRITTEN = ("waiting-ack", "rebooting")
_CLIENT_EXITS = {
    2: "refused the job spec",
    3: "found the target held by another run",
    4: "failed before a result",
    70: "hit an internal error",
}


def job_spec(
    ctx: RoundContext, round_no: int, plan: Mapping[str, str] | None, exclude: tuple[str, ...]
) -> dict[str, Any]:
    """Return the client's job spec (docs/protocol.md) for one round."""
    o = ctx.options
    return {
        "spec_version": JOB_SPEC_VERSION,
        "run_id": ctx.run_id,
        "round": round_no,
        "action": o.action,
        "selection": {
            "include": list(o.include),
            "exclude": [*o.exclude, *exclude],
            "classification": "security" if o.security_only else "all",
            "plan": dict(plan) if plan is not None else None,
            **o.advisory_selection(),
            **ctx.os.selection_extra(o),
        },
        "reboot": o.reboot if o.action == "install" else "never",
        **(o.restart_spec() if o.action == "install" else {}),
        "ack_timeout": _ack_timeout(o),
        "lock_timeout": o.lock_timeout,
        "secret": ctx.secret.reveal(),
        **ctx.os.job_spec_extra(o),
    }


def _ack_timeout(o: RunOptions) -> int:
    """Return the client's ack wait: long enough for the pre-reboot hooks run before the ack."""
    if o.hook_pre_reboot is None and o.local_hook_pre_reboot is None:
        return o.ack_timeout
    return int(min(86400, max(o.ack_timeout, 2 * o.hook_timeout + 120)))


async def _step(
    ctx: RoundContext, row: RoundRow, name: str, seconds: float, work: Awaitable[RoundRow]
) -> RoundRow:
    ctx.phase(row.round, name)
    try:
        async with asyncio.timeout(seconds):
            with _saying_wait(ctx, row.round, name, seconds):
                row = await work
    except TimeoutError as exc:
        raise PhaseTimeout(name, seconds) from exc
    ctx.store.save_round(row)
    return row


_WAITS = {
    "launch": "the client to start",
    "stream": "the client's final record",
    "await_reboot": "the target to come back from its reboot",
    "verify": "the scheduler's task to be cleared",
}


@contextlib.contextmanager
def _saying_wait(ctx: RoundContext, round_no: int, name: str, seconds: float) -> Iterator[None]:
    """Say in the job's output, every ctx.say_every seconds, what the step waits for: a
    scheduler watching a quiet job cannot tell a long install from a hang.

    A timer set again after each line, not a task per step: every server in flight waits in
    a step, and a task costs five times a timer's CPU (bench/fleet_sim.py).
    """
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    timer: asyncio.TimerHandle

    def say() -> None:
        nonlocal timer
        waited = time.monotonic() - started
        timer = loop.call_later(ctx.say_every, say)
        ctx.phase(
            round_no,
            f"{name}.waiting",
            f"waiting for {_WAITS.get(name, name)}: {waited:.0f} s of {seconds:g} s"
            f"{ctx.progress.get(round_no, '')}",
        )

    timer = loop.call_later(ctx.say_every, say)
    try:
        yield
    finally:
        timer.cancel()


async def read_state(ctx: RoundContext, round_no: int) -> dict[str, Any] | None:
    """Return the client's state.json for the round, or None when there is none (yet)."""
    text = await ctx.os.read_text(
        ctx.transport, ctx.os.round_file(ctx.run_id, round_no, "state.json")
    )
    try:
        state = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


async def launch(ctx: RoundContext, row: RoundRow, spec: dict[str, Any]) -> RoundRow:
    """Write the job spec and have the target's scheduler start the client; wait for it."""
    key = f"{ctx.run_id}-r{row.round}"
    if row.phase is RoundPhase.LAUNCHING and await read_state(ctx, row.round) is not None:
        known = ctx.launcher.handle_for(key)  # launched before the connector died
        if known is None:
            return replace(row, phase=RoundPhase.LAUNCHED)
        return replace(
            row, phase=RoundPhase.LAUNCHED, launcher=known.launcher, task_id=known.task_id
        )
    boot_id = await ctx.probe.boot_id(ctx.transport)
    job = ctx.os.round_file(ctx.run_id, row.round, "job.json")
    await ctx.transport.put(json.dumps(spec).encode(), job, mode=0o600)
    row = replace(row, phase=RoundPhase.LAUNCHING, boot_id_before=boot_id, started=utc_now())
    ctx.store.save_round(row)
    await ctx.store.flush()  # on the disk before the launch: never launch twice
    handle = await ctx.launcher.launch(
        ctx.transport,
        ctx.os.client_argv(ctx.client, "run", "--job", job),
        run_id=key,
        start_delay=ctx.options.start_delay,
    )
    row = replace(row, phase=RoundPhase.LAUNCHED, launcher=handle.launcher, task_id=handle.task_id)
    ctx.store.save_round(row)
    ctx.phase(row.round, "launch.started", f"{handle.launcher} task {handle.task_id}")
    await _wait_started(ctx, row, handle)
    return row


async def _wait_started(ctx: RoundContext, row: RoundRow, handle: TaskHandle) -> None:
    """Wait until the client wrote its state (or exited); a dropped link is retried.

    Asked again soon at first: a client started now writes its state within ~0.1 s, and
    every round (the plan scan's too) waits here on its critical path.
    """
    delays = _STARTING.delays()
    while True:
        try:
            if await read_state(ctx, row.round) is not None:
                return
            status = await ctx.launcher.status(ctx.transport, handle)
        except TransportError:
            await asyncio.sleep(1)  # the step's timeout bounds the retries
            continue
        if status.state is TaskState.FAILED_TO_START:
            raise LaunchError(f"the client did not start: {status.detail}")
        if status.state is TaskState.EXITED:
            return  # exited before writing state.json: the stream step reports why
        if status.state is TaskState.UNKNOWN:  # the task vanished: a reset as it started?
            await detect_reboot(ctx, row)
        await asyncio.sleep(next(delays))


def _round_task(ctx: RoundContext, row: RoundRow) -> TaskHandle | None:
    """Return the round's client task, when it is known and this run's launcher owns it."""
    if row.task_id is None or row.launcher != ctx.launcher.name:
        return None
    return TaskHandle(ctx.launcher.name, row.task_id)


async def check_client(ctx: RoundContext, row: RoundRow) -> str | None:
    """Return why the round's client ended without a final record, or None if it may still;
    raise RoundInterrupted when the target rebooted unasked or the client's task is gone."""
    state = await read_state(ctx, row.round)
    if state is not None and state.get("phase") not in ("failed", "done"):
        if state.get("phase") not in _RESULT_WRITTEN:
            await detect(ctx, row, _round_task(ctx, row))
        return None
    exit_status = state.get("exit_status") if state else None
    task = _round_task(ctx, row)
    if exit_status is None and task is not None:
        status = await ctx.launcher.status(ctx.transport, task)
        if status.state is not TaskState.EXITED:
            return None
        exit_status = status.exit_status
        if exit_status is not None and exit_status > 128:
            # killed by a signal before it wrote its state (kill -9 as it started): the round
            # is interrupted like one killed later, not a client failure
            await detect(ctx, row, task)
    if exit_status is None or exit_status == 0:
        return None
    if exit_status == 3:
        raise TargetLockedError("the client found the target held by another run")
    if exit_status == 2:  # refused before any change: nothing in flight, the lock is freed
        raise RoundFailedError(f"the client refused the job spec in round {row.round}")
    reason = _CLIENT_EXITS.get(int(exit_status), f"exited with status {exit_status}")
    return f"the client {reason} in round {row.round} (see the journal)"


def _tuning(ctx: RoundContext) -> StreamTuning:
    """Return the stream tuning, patient enough for a delayed start or a slow reboot."""
    o = ctx.options
    patience = max(ctx.tuning.reattach_timeout, o.reboot_timeout, o.start_delay + o.launch_timeout)
    return replace(ctx.tuning, reattach_timeout=patience)


async def stream(ctx: RoundContext, row: RoundRow) -> RoundRow:
    """Follow the journal to the final record and acknowledge it."""
    finals = ctx.store.records(ctx.run_id, row.round, events=(FINAL_EVENT,))
    final_seq = finals[0]["seq"] if finals else None

    def on_record(record: Mapping[str, Any]) -> None:
        if ctx.store.add_record(ctx.run_id, row.round, record):
            ctx.emit(JournalRecord(target=ctx.target, round=row.round, record=record))
        fields = record.get("fields") or {}
        phase = fields.get("phase") if record.get("event") == "round.heartbeat" else None
        ctx.progress[row.round] = (
            f"; the client's last record: {record.get('event')} (seq {record.get('seq')}"
            f"{', phase ' + str(phase) if phase else ''})"
        )

    follower = JournalFollower(
        ctx.transport,
        AttachTarget(
            ctx.client,
            ctx.run_id,
            row.round,
            ctx.secret,
            ctx.launcher,
            ctx.os,
            _round_task(ctx, row),
        ),
        last_seq=ctx.store.last_seq(ctx.run_id, row.round),
        final_seq=final_seq,
        on_record=on_record,
        check_client=lambda: check_client(ctx, row),
        tuning=_tuning(ctx),
        before_ack=ctx.store.flush,
        stored=ctx.store.journal_size(ctx.run_id, row.round),
        decide_reboot=None if ctx.change is None else ctx.change.before_reboot,
    )
    final = await follower.follow()
    if final.get("fields", {}).get("will_reboot") is True and follower.may_reboot is not False:
        # The connector's clock, like back_at: the target's record stamp may be minutes off
        # (issue 11, clock skew), and the reboot's seconds are back_at minus this.
        return replace(row, phase=RoundPhase.REBOOTING, reboot_requested_at=utc_now())
    return replace(row, phase=RoundPhase.STREAMED)


async def reboot_step(ctx: RoundContext, row: RoundRow) -> RoundRow:
    """Verify the reboot the client started: new boot id and ready; stability is pending
    (`settle`, before the next launch or the run's end: stability.py)."""
    policy = ctx.reboot_policy()
    after, detail = await ctx.await_new_boot(row)
    ctx.phase(
        row.round,
        "reboot.stability",
        f"{detail}; boot id checked again in {policy.stability_window:g} s, before the next "
        "launch (the next round is prepared meanwhile)",
    )
    return replace(row, phase=RoundPhase.STREAMED, boot_id_after=after, back_at=utc_now())


def watch_window(ctx: RoundContext) -> None:
    """Linux: read the pending reboot's window alongside the round about to launch."""
    pending, ctx.pending = ctx.pending, None
    if pending is None:
        return
    policy = ctx.reboot_policy()
    ctx.watch = WindowWatch.start(ctx.transport, ctx.probe, pending, policy, ctx.clock)
    ctx.phase(
        pending.round,
        "reboot.stability",
        f"the next round launches now; the boot id is read again when the "
        f"{policy.stability_window:g} s window ends",
    )


def drop_watch(ctx: RoundContext) -> None:
    """Stop reading a window that a proof of its own supersedes (the round rebooted, or a
    reboot cut it: its recovery proves the new boot)."""
    watch, ctx.watch = ctx.watch, None
    if watch is not None:
        watch.drop()


async def settle(ctx: RoundContext) -> bool:
    """Confirm the pending reboot's stability (a watched window's, or a pending one's); return
    whether the target rebooted again inside the window (then the stored boot id is the
    final one)."""
    policy = ctx.reboot_policy()
    if ctx.watch is not None:
        watch, ctx.watch = ctx.watch, None
        pending = watch.pending
        settled = await watch.settle(ctx.transport, ctx.probe, policy, ctx.clock)
    elif ctx.pending is not None:
        pending, ctx.pending = ctx.pending, None
        settled = await confirm_stable(ctx.transport, ctx.probe, pending, policy, ctx.clock)
    else:
        return False
    if settled.rebooted_again:
        ctx.phase(
            pending.round,
            "reboot.stability",
            f"rebooted again inside the stability window; stable on boot id {settled.boot_id}",
        )
        for row in ctx.store.rounds(ctx.run_id):
            if row.round == pending.round:
                ctx.store.save_round(replace(row, boot_id_after=settled.boot_id))
    return settled.rebooted_again


async def verify(ctx: RoundContext, row: RoundRow, report: RoundReport) -> RoundRow:
    """Clear the scheduler's task and check the round ended as its result says.

    The task is cleared first: a round the client ended with an error leaves nothing in
    flight, and its failed unit would outlive the run (found by the fault campaign, seed 2:
    a zypper round failed on a full disk left `patchpilot-…-r2.service` failed)."""
    task = _round_task(ctx, row)
    if task is not None:
        try:
            await ctx.launcher.cleanup(ctx.transport, task)
        except TransportError as exc:
            ctx.warn(row.round, f"could not clear the scheduler's task {row.task_id}: {exc}")
    if report.status == "error":
        message = next(
            (
                r.get("fields", {}).get("message")
                for r in ctx.store.records(ctx.run_id, row.round, events=(FINAL_EVENT,))
            ),
            "",
        )
        if str(message).startswith("SelectionUnsupported: "):  # a usage error (exit 64)
            raise ConfigurationError(str(message).split(": ", 1)[1])
        raise RoundFailedError(
            f"round {row.round} failed on the target: "
            f"{str(message).strip().splitlines()[-1:] or 'no reason'}"
        )
    return replace(row, phase=RoundPhase.DONE, finished=utc_now())


async def run_round(
    ctx: RoundContext, round_no: int, spec: dict[str, Any]
) -> tuple[RoundRow, RoundReport]:
    """Run (or resume) one round; return its stored row once done (or interrupted), and its
    report."""
    o, policy = ctx.options, ctx.reboot_policy()
    found = [r for r in ctx.store.rounds(ctx.run_id) if r.round == round_no]
    row = found[0] if found else RoundRow(ctx.run_id, round_no, RoundPhase.NEW)
    try:
        if row.phase in (RoundPhase.NEW, RoundPhase.LAUNCHING):
            limit = o.launch_timeout + o.start_delay
            row = await _step(ctx, row, "launch", limit, launch(ctx, row, spec))
        if row.phase is RoundPhase.LAUNCHED:
            row = await _step(ctx, row, "stream", o.round_timeout, stream(ctx, row))
    except RoundInterrupted as exc:
        if exc.is_rebooted:
            drop_watch(ctx)  # the recovery proves the new boot, with its own window
        row = _stored_row(ctx, round_no)
        plan = round_report(ctx.store, ctx.run_id, round_no).plan
        row = record_interruption(ctx, row, exc, plan)
        return row, _interrupted_report(ctx, round_no)
    if row.phase is RoundPhase.REBOOTING:
        # the client ran on one boot to its final record; the new reboot's proof supersedes
        drop_watch(ctx)
        total = policy.timeout + policy.readiness_timeout + policy.stability_timeout + 60
        row = await _step(ctx, row, "await_reboot", total, reboot_step(ctx, row))
    if ctx.change is not None and row.boot_id_after is not None:
        await ctx.change.after_reboot(round_no)
    report = round_report(ctx.store, ctx.run_id, round_no)
    ctx.store.save_results(ctx.run_id, report.results)
    row = await _step(ctx, row, "verify", 120, verify(ctx, row, report))
    await cleanup_tasks(ctx, ctx.store.rounds(ctx.run_id))
    return row, report


def _stored_row(ctx: RoundContext, round_no: int) -> RoundRow:
    """Return the round's row as stored (a step that raised did not return its row)."""
    return next(r for r in ctx.store.rounds(ctx.run_id) if r.round == round_no)


def _interrupted_report(ctx: RoundContext, round_no: int) -> RoundReport:
    """Return an interrupted round's report: its plan, no results (they come with the round
    that runs it again)."""
    return replace(round_report(ctx.store, ctx.run_id, round_no), status="interrupted", results=())


class _Recovery:
    """The interruptions of one run: how many, and what the next round runs again."""

    def __init__(self, ctx: RoundContext) -> None:
        self.ctx = ctx
        self.seen = interruptions(ctx.store.records(ctx.run_id, HOOK_ROUND))
        self.count = 0
        self.planned: dict[str, str] = {}  # what interrupted rounds planned, id -> version
        self.last: int | None = None  # the interrupted round the next one runs again
        self.is_last_rebooted = False  # ...and whether it was cut by a reboot

    def of(self, round_no: int) -> Interruption | None:
        return next((i for i in reversed(self.seen) if i.round == round_no), None)

    async def after(self, row: RoundRow, *, is_next_new: bool) -> None:
        """Count an interrupted round; past the limit raise, else recover before the next."""
        self.seen = interruptions(self.ctx.store.records(self.ctx.run_id, HOOK_ROUND))
        found = self.of(row.round)
        self.count += 1
        # a reset earlier in a chain of cut rounds (each running the one before again) still
        # rebooted the target after what they installed: the chain's end is followed as one
        is_chained = self.last == row.round - 1 and self.is_last_rebooted
        self.last = row.round
        self.is_last_rebooted = is_chained or (found is not None and found.is_rebooted)
        if found is not None:
            self.planned.update(found.planned)
        limit = self.ctx.options.max_interruptions
        if self.count > limit:
            await read_after_limit(self.ctx, row, found)  # what the cut rounds installed
            raise TooManyInterruptions(
                f"round {row.round} was the run's interruption number {self.count}, more than "
                f"--max-interruptions {limit}: {found.cause if found else 'interrupted'}"
            )
        if found is not None and is_next_new:
            await recover(self.ctx, row, found)

    def follows_reboot(self, round_no: int) -> bool:
        """Tell whether round_no ran again a round cut by a reboot: that reset rebooted the
        target after the cut round's installs, so a later round may find new updates (a
        servicing stack's), as after a requested reboot."""
        return self.last == round_no - 1 and self.is_last_rebooted

    def spec_part(self, round_no: int) -> dict[str, Any]:
        """Return the job spec's `recovery` for the round right after an interrupted one."""
        if self.last is None or self.last != round_no - 1:
            return {}
        return {"recovery": {"round": self.last, "planned": dict(self.planned)}}


async def run_rounds(ctx: RoundContext, frozen: dict[str, str] | None) -> list[RoundReport]:
    """Run rounds until no reboot brought new work, up to --max-rounds; return their reports.

    Round 1's plan (or the caller's, `frozen`) is stored and bounds every later round. An
    interrupted round is run again by the next round number with the same plan (up to
    --max-interruptions times; it does not count against --max-rounds). The run does not
    end, even on an error, before a watched stability window has passed. A run in doubt (a
    round cut short or failed, an update failed) reads the installed versions last
    (settlement.py): its result is the server's.
    """
    try:
        reports = await _run_rounds(ctx, frozen)
    except RoundFailedError:  # the client ended a round with an error: read the server
        await _window_passed(ctx)
        await read_installed(ctx)
        raise
    except Exception:
        await _window_passed(ctx)
        raise
    finally:
        drop_watch(ctx)  # cancelled: nothing is left reading
    if is_in_doubt(ctx, reports):  # a round cut short or an update failed: read the server
        await read_installed(ctx)
    return reports


async def _window_passed(ctx: RoundContext) -> None:
    """On an error, wait for a watched window's read (the lock is released after it) and
    warn if it found another boot; the serial proof is not waited for on the way out."""
    watch = ctx.watch
    if watch is None:
        return
    again = await watch.read
    if again is None or not ctx.probe.same_boot(again, watch.pending.boot_id):
        ctx.warn(
            watch.pending.round,
            f"the target rebooted again (or stopped answering) inside the stability window "
            f"of round {watch.pending.round}'s reboot; not waited for, as the run failed",
        )


async def _start_round(
    ctx: RoundContext,
    round_no: int,
    frozen: dict[str, str] | None,
    reports: list[RoundReport],
    loops: set[str],
    recovery: _Recovery,
) -> tuple[RoundRow, RoundReport]:
    """Prepare round_no (its plan, adding looping ids to `loops`) and run it.

    With a watched window (Linux), a scan or a launch that fails on the link before the round
    is under way is blamed on the window first: it is settled (a second reboot is proven in
    full), then the round is prepared again on the stable boot; a window that held re-raises.
    """

    async def settle_watched() -> None:
        if ctx.watch is not None:
            await settle(ctx)

    while True:
        if ctx.os.watches_window:
            watch_window(ctx)
        if recovery.last == round_no - 1:  # the cut round's plan again, no new scan
            plan, found = await _cut_plan(ctx, round_no - 1, frozen), set[str]()
        else:
            plan, found = await round_plan(ctx, round_no, frozen, reports, settle_watched)
        if ctx.watch is None and await settle(ctx) and recovery.last != round_no - 1:
            plan, found = await round_plan(ctx, round_no, frozen, reports)  # a new boot
        loops |= found
        spec = {**job_spec(ctx, round_no, plan, tuple(loops)), **recovery.spec_part(round_no)}
        try:
            row, report = await run_round(ctx, round_no, spec)
        except (TransportError, LaunchError):
            if ctx.watch is None or not await settle(ctx):
                raise
            ctx.phase(round_no, "launch", "preparing the round again on the stable boot")
            continue
        if ctx.watch is not None:  # read alongside the round, settled once it ended
            await settle(ctx)
        return row, report


async def _cut_plan(
    ctx: RoundContext, round_no: int, frozen: dict[str, str] | None
) -> dict[str, str] | None:
    """Return the plan the cut round was launched with (its job spec on the target), or the
    frozen plan when it had none or cannot be read: a later round's plan holds what its scan
    added (the update a servicing reboot brought), which round 1's frozen plan lacks (fault
    campaign, apt seed 22: round 2 killed in its repair, run again on round 1's plan, exit 0
    without lab-stage2-x)."""
    path = ctx.os.round_file(ctx.run_id, round_no, "job.json")
    try:
        spec = json.loads(await ctx.os.read_text(ctx.transport, path) or "null")
    except (TransportError, ValueError):
        return frozen
    selection = spec.get("selection") if isinstance(spec, dict) else None
    plan = selection.get("plan") if isinstance(selection, dict) else None
    if not isinstance(plan, dict):
        return frozen
    return {str(k): str(v) for k, v in plan.items()}


async def _run_rounds(ctx: RoundContext, frozen: dict[str, str] | None) -> list[RoundReport]:
    reports: list[RoundReport] = []
    loops: set[str] = set()
    stored = {r.round: r for r in ctx.store.rounds(ctx.run_id)}
    recovery = _Recovery(ctx)
    round_no = 0
    while round_no - recovery.count < ctx.options.max_rounds:
        round_no += 1
        row, report = stored.get(round_no), None
        if row is None or row.phase not in (RoundPhase.DONE, RoundPhase.INTERRUPTED):
            if ctx.change is not None and (row is None or row.phase is RoundPhase.NEW):
                ctx.change.before_round(round_no)
            _resume_pending(ctx, stored.get(round_no - 1), row)
            row, report = await _start_round(ctx, round_no, frozen, reports, loops, recovery)
        if row.phase is RoundPhase.INTERRUPTED:
            report = report or _interrupted_report(ctx, round_no)
            if frozen is None and report.plan:
                frozen = dict(report.plan)
                ctx.store.set_plan(ctx.run_id, frozen)
            after = stored.get(round_no + 1)
            await recovery.after(row, is_next_new=after is None or after.phase is RoundPhase.NEW)
            continue
        if report is None:  # a round done in an earlier connector process
            report = round_report(ctx.store, ctx.run_id, round_no)
        if frozen is None:
            frozen = dict(report.plan)
            ctx.store.set_plan(ctx.run_id, frozen)
        reports.append(report)
        after_reset = recovery.follows_reboot(round_no)
        is_rebooted = row.boot_id_after is not None or after_reset
        if after_reset and report.status == "nothing" and ctx.options.action == "install":
            continue  # the cut round's plan was done; the reset's new updates need a scan
        if not should_continue(report, action=ctx.options.action, is_rebooted=is_rebooted):
            break
    else:
        ctx.warn(
            round_no,
            f"stopped after --max-rounds "
            f"{ctx.options.max_rounds}: updates may remain after the last reboot",
        )
    await settle(ctx)  # the run never ends on a reboot that is not proven stable
    return reports


def _resume_pending(ctx: RoundContext, before: RoundRow | None, row: RoundRow | None) -> None:
    """A round not yet launched after one that rebooted in an earlier connector process:
    its stability is not known to have been confirmed, so confirm it (a full window)."""
    is_new = row is None or row.phase is RoundPhase.NEW
    if ctx.pending is None and is_new and before is not None and before.boot_id_after:
        ctx.pending = PendingStability(before.round, before.boot_id_after, ctx.clock.now())
