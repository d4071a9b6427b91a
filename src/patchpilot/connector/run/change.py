"""The run as one step of the operator's change: hooks, health and the maintenance window
around the round loop.

    window open? → pre hooks → rounds (each: window open? … pre-reboot hooks → reboot →
    proof → health → post-reboot hooks) → health (when nothing rebooted) → post hooks

`ChangeSteps` is what the round loop calls at its seams (`RoundContext.change`); `run_change`
wraps `run_rounds`. A check-only run changes nothing, so it runs no hook and no health check.
A failing `pre` hook stops before any change (exit 81); a failing `pre-reboot` hook withholds
that reboot and fails the run after the round (82), as a failing `post-reboot`/`post` hook
does (82); a failed health check fails it (83). A closed window starts no new round (84), but
the `post` hooks still run: the server is consistent between rounds and should be re-enabled.
"""

from __future__ import annotations

from patchpilot.connector.maintenance_window import is_closed, is_past
from patchpilot.connector.plan import final_updates
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.health import check_health
from patchpilot.connector.run.hooks import (
    HookEnv,
    HookPoint,
    has_hooks,
    record,
    run_point,
)
from patchpilot.connector.run.own_journal import HOOK_ROUND, withheld_rounds
from patchpilot.connector.run.round_loop import run_rounds
from patchpilot.connector.run.service_restarts import check_restarts, merge_services
from patchpilot.connector.run.summary import round_report
from patchpilot.errors import HookError, WindowClosed

__all__ = ["ChangeSteps", "run_change"]


class ChangeSteps:
    """The change process's steps at the round loop's seams, for one run."""

    def __init__(self, ctx: RoundContext) -> None:
        self.ctx = ctx
        self.failure: HookError | None = None  # a pre-reboot hook's, raised after its round

    def env(self, point: HookPoint, round_no: int, *, is_reboot_pending: bool) -> HookEnv:
        """Return a hook's environment: the updates installed so far in this run."""
        store, run_id = self.ctx.store, self.ctx.run_id
        reports = [round_report(store, run_id, r.round) for r in store.rounds(run_id)]
        applied = tuple(r.id for r in final_updates(reports) if r.status == "installed")
        return HookEnv(run_id, self.ctx.target, point.value, round_no, applied, is_reboot_pending)

    async def run_hooks(self, point: HookPoint, round_no: int, *, is_reboot_pending: bool) -> None:
        """Run a point's hooks, if it has any: their environment reads every round's report,
        which a run without hooks (most servers of a fleet) need not pay for."""
        if has_hooks(self.ctx.options, point):
            env = self.env(point, round_no, is_reboot_pending=is_reboot_pending)
            await run_point(self.ctx, point, env)

    def before_round(self, round_no: int) -> None:
        """Raise WindowClosed when the window no longer lets a new round start."""
        o = self.ctx.options
        if is_closed(o.deadline_at, o.cutoff_seconds):
            cut = f" minus --cutoff {o.cutoff}" if o.cutoff_seconds else ""
            record(self.ctx, "window.closed", "warning", {"round": round_no})
            raise WindowClosed(
                f"the maintenance window ended (--deadline {o.deadline}"
                f"{cut}): round {round_no} was not started"
            )

    async def before_reboot(self, round_no: int) -> bool:
        """Run the pre-reboot hooks; return whether the client may reboot now.

        Asked again for a round whose reboot was withheld already (a resumed connector
        re-reading the final record), it keeps that answer: the client did not reboot.
        """
        o = self.ctx.options
        earlier = withheld_rounds(self.ctx.store.records(self.ctx.run_id, HOOK_ROUND))
        if round_no in earlier:
            if earlier[round_no] == "hook":
                self.failure = HookError(f"pre-reboot hook of round {round_no}", point="pre-reboot")
            return False
        if o.reboot_after_deadline == "defer" and is_past(o.deadline_at):
            why = "the deadline passed (--reboot-after-deadline defer)"
            self._withhold(round_no, why, by="deadline")
            return False
        try:
            await self.run_hooks(HookPoint.PRE_REBOOT, round_no, is_reboot_pending=True)
        except HookError as exc:
            self.failure = exc
            self._withhold(round_no, str(exc), by="hook")
            return False
        return True

    def _withhold(self, round_no: int, why: str, *, by: str) -> None:
        fields = {"round": round_no, "why": why, "by": by}
        record(self.ctx, "reboot.withheld", "warning", fields)
        self.ctx.warn(round_no, f"reboot withheld: {why}")

    async def after_reboot(self, round_no: int) -> None:
        """Prove the rebooted target healthy, then run the post-reboot hooks."""
        await check_health(self.ctx, round_no, reason=f"after the reboot of round {round_no}")
        await self.run_hooks(HookPoint.POST_REBOOT, round_no, is_reboot_pending=False)


async def run_change(ctx: RoundContext, frozen: dict[str, str] | None) -> None:
    """Run the rounds inside the change process (see the module docstring)."""
    if ctx.options.action == "scan":
        await run_rounds(ctx, frozen)
        return
    steps = ChangeSteps(ctx)
    ctx.change = steps
    if not ctx.store.rounds(ctx.run_id):
        steps.before_round(1)
    await steps.run_hooks(HookPoint.PRE, 1, is_reboot_pending=False)
    try:
        await run_rounds(ctx, frozen)
    except WindowClosed:
        await _post(ctx, steps)
        raise
    if steps.failure is not None:
        raise steps.failure
    rows = ctx.store.rounds(ctx.run_id)
    last = rows[-1].round if rows else HOOK_ROUND
    services = round_report(ctx.store, ctx.run_id, last).services if rows else {}
    check_restarts(merge_services([(last, services)]), last)
    if not any(r.boot_id_after for r in rows):
        await check_health(ctx, last, reason="at the end of the run")
    await _post(ctx, steps)


async def _post(ctx: RoundContext, steps: ChangeSteps) -> None:
    if not has_hooks(ctx.options, HookPoint.POST):
        return
    rows = ctx.store.rounds(ctx.run_id)
    last = rows[-1].round if rows else HOOK_ROUND
    withheld = last in withheld_rounds(ctx.store.records(ctx.run_id, HOOK_ROUND))
    report = round_report(ctx.store, ctx.run_id, last)
    pending = withheld or bool(report.reboot_required and not report.will_reboot)
    await steps.run_hooks(HookPoint.POST, last, is_reboot_pending=pending if rows else False)
