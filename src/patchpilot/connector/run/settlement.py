"""The run's result is the server's: what its package database holds once the rounds ended.

A round's results are what its client saw at the time, and a fault can make them wrong later:
dpkg killed in a postinst (the round says `failed`) is finished by a later round's repair
(`dpkg --configure -a`); a run stopped at --max-interruptions (exit 78) never runs the round
that would have read what its cut rounds installed. So a run in doubt (a round was cut short
or an update failed, or it ends with 77 or 78) asks the client (`installed`: it waits for the
package lock, for a killed client's dpkg may run on, then reads dpkg's status or rpm's
database) for every planned update's version, and keeps the answer as its own `run.installed`
record; `build_result` then reports each planned update found at its planned version as
installed (`own_journal.settled_report`). Found by the fault campaign (docs/reliability.md).
"""

from __future__ import annotations

import json

from patchpilot.connector.plan import RoundReport
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.hooks import record
from patchpilot.connector.run.interruption import Interruption, interruptions, recover
from patchpilot.connector.run.own_journal import HOOK_ROUND, INSTALLED_EVENT
from patchpilot.connector.run.summary import round_report
from patchpilot.connector.store import RoundRow
from patchpilot.errors import PatchpilotError

__all__ = ["is_in_doubt", "read_after_limit", "read_installed"]

_LOCK_WAIT = 300.0  # seconds the client waits for the package lock before it reads anyway


def _planned(ctx: RoundContext) -> tuple[dict[str, str], int]:
    """Return every round's plan merged (a later round's version wins) and the last round."""
    planned: dict[str, str] = {}
    rows = ctx.store.rounds(ctx.run_id)
    for row in rows:
        planned.update(round_report(ctx.store, ctx.run_id, row.round).plan)
    for cut in interruptions(ctx.store.records(ctx.run_id, HOOK_ROUND)):
        for update_id, version in cut.planned.items():
            planned.setdefault(update_id, version)
    return planned, max((r.round for r in rows), default=0)


def is_in_doubt(ctx: RoundContext, reports: list[RoundReport]) -> bool:
    """Tell whether the rounds' word may differ from the server's: a round was cut short
    or an update failed (a later repair may have finished it)."""
    if any(report.count("failed") for report in reports):
        return True
    return bool(interruptions(ctx.store.records(ctx.run_id, HOOK_ROUND)))


async def read_installed(ctx: RoundContext) -> None:
    """Read the planned updates' installed versions on the target and store them (a failure
    to read is a warning: the rounds' word stands)."""
    if not ctx.os.reads_installed or ctx.options.action != "install":
        return
    planned, last = _planned(ctx)
    if not planned:
        return
    wait = min(float(ctx.options.lock_timeout), _LOCK_WAIT)
    backend = ["--backend", ctx.options.backend] if ctx.options.backend != "auto" else []
    argv = ["installed", *backend, "--lock-timeout", f"{wait:g}", "--", *sorted(planned)]
    ctx.phase(last, "settle", f"reading the installed versions of {len(planned)} update(s)")
    try:
        done = await ctx.os.call_client(ctx.site, *argv, timeout=wait + 120)
    except PatchpilotError as exc:  # unreachable, timed out: the rounds' word stands
        ctx.warn(last, f"could not read the installed versions at the run's end: {exc}")
        return
    answer = _answer(done.stdout) if done.ok else None
    if answer is None:
        said = (done.stderr or done.stdout).strip()[-300:]
        ctx.warn(last, f"could not read the installed versions at the run's end: {said}")
        return
    versions, held = answer
    fields = {"round": last, "planned": planned, "versions": versions, "lock_held": held}
    record(ctx, INSTALLED_EVENT, "warning" if held else "info", fields)


def _answer(stdout: str) -> tuple[dict[str, str], str] | None:
    """Return the client's versions and lock note, or None for an answer that is not one."""
    try:
        body = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("versions"), dict):
        return None
    versions = {str(k): str(v) for k, v in body["versions"].items()}
    return versions, str(body.get("lock_held") or "")


async def read_after_limit(ctx: RoundContext, row: RoundRow, cut: Interruption | None) -> None:
    """Before a run ends at --max-interruptions: wait for a reset target to come back (the
    reboot's proof), then read what the cut rounds installed. Never raises for the target:
    the run ends 78 either way, with a warning when nothing could be read."""
    if cut is not None and cut.is_rebooted:
        try:
            await recover(ctx, row, cut)
        except PatchpilotError as exc:
            ctx.warn(row.round, f"the installed versions were not read: {exc}")
            return
    await read_installed(ctx)
