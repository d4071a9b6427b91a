"""Health after a reboot: `--ready-command` and `--require-service`, part of the reboot proof.

A new boot id that holds says the server restarted; it does not say the application answers.
These checks run on the target through the client (like a target hook) after every verified
reboot, and once at the end of a run that rebooted nothing. They are retried every few
seconds until they pass or the reboot timeout ends; then the run fails with exit 83 and the
last attempt's output.
"""

from __future__ import annotations

import asyncio
import time

from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.hooks import HookEnv, HookRun, record, run_target_hook
from patchpilot.errors import HealthError

__all__ = ["RETRY_SECONDS", "check_health", "has_health_checks"]

RETRY_SECONDS = 3.0


def has_health_checks(ctx: RoundContext) -> bool:
    return bool(ctx.options.ready_command or ctx.options.require_service)


async def _attempt(ctx: RoundContext, env: HookEnv, timeout: float) -> HookRun | None:
    """Run each check once; return the first failure, or None when all pass."""
    o = ctx.options
    checks = []
    if o.require_service:
        checks.append(("services", ctx.os.service_check(o.require_service)))
    if o.ready_command:
        checks.append(("ready", o.ready_command))
    for name, command in checks:
        run = await run_target_hook(ctx, command, env, timeout, name=name)
        if not run.is_ok:
            return run
    return None


async def check_health(ctx: RoundContext, round_no: int, *, reason: str) -> None:
    """Retry the health checks until they pass or --reboot-timeout ends; HealthError then."""
    if not has_health_checks(ctx):
        return
    env = HookEnv(ctx.run_id, ctx.target, "health", round_no)
    ctx.phase(round_no, "health", reason)
    deadline = time.monotonic() + ctx.options.reboot_timeout
    attempts = 0
    while True:
        attempts += 1
        left = max(deadline - time.monotonic(), 1.0)
        failed = await _attempt(ctx, env, min(ctx.options.hook_timeout, left))
        if failed is None:
            record(ctx, "health.ok", "info", {"round": round_no, "attempts": attempts})
            return
        if time.monotonic() + RETRY_SECONDS > deadline:
            fields = {**failed.fields(), "attempts": attempts}
            record(ctx, "health.failed", "error", fields)
            raise HealthError(
                f"the target is not healthy {reason} after {attempts} attempt(s) in "
                f"{ctx.options.reboot_timeout:g} s: {failed.describe()}"
            )
        await asyncio.sleep(RETRY_SECONDS)
