"""A round interrupted before its final record: detect it, prove the target back, go on.

A round is *interrupted* when the target reboots unasked (a reset, a power cut) or the
client's process ends (kill -9, the OOM killer) before the round's final record. The stream
asks `detect` whenever it hears nothing (the client pings every 5 s and journals a heartbeat
every 15 s) or the journal ends early: the boot id, then the launcher (the transient unit's
state, the at job's) tell a dead round from a slow one. Then `record` keeps the cause, the
time and what the round had done (its journal's last progress) as the connector's own
`round.interrupted` record, and `recover` waits for a rebooted target with the reboot's full
proof (boot id, readiness; its stability is confirmed right before the next launch). The
round loop then runs the round again under the next round number with the cut round's plan;
that round's client repairs the package manager first (dpkg --configure -a, apt-get -f
install; rpm duplicates) and reports what the interrupted round had installed, from the
package database, instead of installing it again. See docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from patchpilot.connector.events import JournalRecord, utc_now
from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.own_journal import HOOK_ROUND
from patchpilot.connector.run.reboot import read_boot_id
from patchpilot.connector.store import RoundRow
from patchpilot.errors import RoundInterrupted, TransportError
from patchpilot.launchers.base import TaskHandle, TaskState

__all__ = [
    "INTERRUPTED_EVENT",
    "Interruption",
    "detect",
    "detect_reboot",
    "interruptions",
    "record",
    "recover",
]

INTERRUPTED_EVENT = "round.interrupted"
# the client's records that say how far a round got (the last one is kept as "done")
_PROGRESS_EVENTS = (
    "plan.selected",
    "progress",
    "round.heartbeat",
    "dpkg.repair",
    "update.result",
)


@dataclass(frozen=True)
class Interruption:
    """One interrupted round, as the connector recorded it."""

    round: int
    cause: str
    at: str
    is_rebooted: bool
    done: str  # what the round had done before the cut (its last progress record)
    planned: Mapping[str, str]  # the round's plan: id -> version (empty: not known yet)

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "cause": self.cause,
            "at": self.at,
            "rebooted": self.is_rebooted,
            "done_before": self.done,
        }


async def detect_reboot(ctx: RoundContext, row: RoundRow) -> bool:
    """Raise RoundInterrupted when the target's boot id changed since the round's launch;
    return whether the boot id could be read at all."""
    boot = await read_boot_id(ctx.probe, ctx.transport, ctx.reboot_policy().read_timeout)
    before = row.boot_id_before or ""
    if before and boot and boot != before:
        raise RoundInterrupted(
            f"the target rebooted unasked during round {row.round} (boot id {before} -> "
            f"{boot}): a reset or power cut",
            is_rebooted=True,
        )
    return boot is not None


async def detect(ctx: RoundContext, row: RoundRow, task: TaskHandle | None) -> None:
    """Raise RoundInterrupted when the round's client is gone without its final record.

    Called only while the client's state says it has not finished (no final record yet);
    a target that does not answer tells nothing yet.
    """
    if not await detect_reboot(ctx, row) or task is None:
        return  # away (nothing is known until it answers), or no task to ask about
    status = await ctx.launcher.status(ctx.transport, task)
    if status.state is TaskState.EXITED:
        how = f"exit status {status.exit_status}" if status.exit_status is not None else ""
        if status.exit_status is not None and status.exit_status > 128:
            how = f"killed by signal {status.exit_status - 128}"
        raise RoundInterrupted(
            f"the client of round {row.round} ended without its final record "
            f"({how or status.detail}): killed, or out of memory",
            is_rebooted=False,
        )
    if status.state is TaskState.UNKNOWN:
        raise RoundInterrupted(
            f"the client's task of round {row.round} is gone without its final record "
            f"({status.detail})",
            is_rebooted=False,
        )


def _done_before(ctx: RoundContext, round_no: int) -> str:
    """Say how far the round got, from its last progress record the connector holds."""
    found = ctx.store.records(ctx.run_id, round_no, events=_PROGRESS_EVENTS)
    if not found:
        return "nothing journaled past the start"
    last = found[-1]
    fields = last.get("fields") or {}
    shown = {k: v for k, v in fields.items() if isinstance(v, str | int | float)}
    detail = ", ".join(f"{k}={v}" for k, v in list(shown.items())[:6])
    return f"{last.get('event')} (record {last.get('seq')}{', ' + detail if detail else ''})"


def record(
    ctx: RoundContext, row: RoundRow, error: RoundInterrupted, planned: Mapping[str, str]
) -> RoundRow:
    """Store the round as interrupted, with the connector's `round.interrupted` record."""
    entry = Interruption(
        row.round, str(error), utc_now(), error.is_rebooted, _done_before(ctx, row.round), planned
    )
    body = {
        "seq": ctx.store.last_seq(ctx.run_id, HOOK_ROUND) + 1,
        "ts": entry.at,
        "level": "warning",
        "event": INTERRUPTED_EVENT,
        "fields": {**entry.to_dict(), "planned": dict(planned)},
    }
    if ctx.store.add_record(ctx.run_id, HOOK_ROUND, body):
        ctx.emit(JournalRecord(target=ctx.target, round=HOOK_ROUND, record=body))
    ctx.warn(row.round, f"round {row.round} interrupted: {entry.cause}; done: {entry.done}")
    row = replace(row, phase=RoundPhase.INTERRUPTED, finished=entry.at)
    ctx.store.save_round(row)
    return row


def interruptions(records: list[dict[str, Any]]) -> list[Interruption]:
    """Return the run's interruptions from the connector's own records (pure)."""
    found = []
    for body in records:
        if body.get("event") != INTERRUPTED_EVENT:
            continue
        fields = body.get("fields") or {}
        planned = fields.get("planned") or {}
        found.append(
            Interruption(
                int(fields.get("round", 0)),
                str(fields.get("cause", "")),
                str(fields.get("at", "")),
                bool(fields.get("rebooted")),
                str(fields.get("done_before", "")),
                {str(k): str(v) for k, v in planned.items()},
            )
        )
    return found


async def recover(ctx: RoundContext, row: RoundRow, interruption: Interruption) -> None:
    """Wait until the target is back from an unasked reboot, with the reboot's proof; the
    stability window is confirmed before the next launch (ctx.pending). Safe to repeat
    (a resumed connector): a target already back passes at once."""
    ctx.phase(row.round, "interrupted.recover", interruption.cause)
    if not interruption.is_rebooted:
        return
    _, detail = await ctx.await_new_boot(row)
    ctx.phase(row.round, "interrupted.back", f"{detail}; stability checked before the relaunch")


async def cleanup_tasks(ctx: RoundContext, rows: list[RoundRow]) -> None:
    """Clear the scheduler's tasks of interrupted rounds (after the round that ran them
    again: a killed client's dpkg may have run on in its unit until then)."""
    for row in rows:
        if row.phase is not RoundPhase.INTERRUPTED or row.task_id is None:
            continue
        if row.launcher != ctx.launcher.name:
            continue
        try:
            await ctx.launcher.cleanup(ctx.transport, TaskHandle(row.launcher, row.task_id))
        except TransportError as exc:
            ctx.warn(row.round, f"could not clear the scheduler's task {row.task_id}: {exc}")
