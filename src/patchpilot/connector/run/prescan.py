"""A later round's plan: what the target offers now, bounded by the frozen plan.

Before each round after the first, the connector asks the client what the target offers
(`scan`): updates of the frozen plan at their frozen versions, plus ids that appeared since
(a reboot may bring them), minus ids caught looping (installed, then offered again as is).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

from patchpilot.connector.backoff import Backoff
from patchpilot.connector.plan import RoundReport, extend_plan, find_loops
from patchpilot.connector.run.context import RoundContext
from patchpilot.errors import LaunchError, TransportError

__all__ = ["later_plan", "prescan", "round_plan"]


async def prescan(ctx: RoundContext) -> dict[str, str] | None:
    """Return what the target offers now (id -> candidate), or None if the scan failed."""
    try:
        backend = ["--backend", ctx.options.backend] if ctx.options.backend != "auto" else []
        scan = await ctx.os.call_client(ctx.site, "scan", "--json", *backend, timeout=600)
    except (TransportError, LaunchError):
        return None
    try:
        updates = json.loads(scan.stdout) if scan.ok else None
    except ValueError:
        updates = None
    if not isinstance(updates, list):
        return None
    return {
        str(u.get("id")): str(u.get("candidate_version") or "")
        for u in updates
        if isinstance(u, dict)
    }


# How long a failing scan is asked again: a server whose sshd restarts, whose link is cut for
# a minute or whose package cache is full for a while would otherwise have its round run on
# the frozen plan alone, and the updates a reboot brought (a servicing stack's) never join
# it (found by the fault campaign, seed 7: two servers ended exit 0 without lab-stage2-x).
PRESCAN_PATIENCE = 120.0
# a watched stability window's settling, called once when the scan fails (round_loop.py)
SettleWindow = Callable[[], Awaitable[None]]
_AGAIN = Backoff(first=2.0, factor=2.0, cap=20.0)


async def _prescan_patiently(
    ctx: RoundContext, round_no: int, settle_window: SettleWindow | None
) -> dict[str, str] | None:
    """Return prescan's answer, asked again with back-off for up to PRESCAN_PATIENCE s (after
    a watched stability window is settled: a second reboot inside it is proven in full)."""
    patience = min(PRESCAN_PATIENCE, ctx.options.reboot_timeout)
    deadline = ctx.clock.now() + patience
    delays = _AGAIN.delays()
    while (offered := await prescan(ctx)) is None and ctx.clock.now() < deadline:
        if settle_window is not None:
            await settle_window()
            settle_window, deadline = None, ctx.clock.now() + patience
        wait = next(delays)
        ctx.phase(round_no, "prescan.retry", f"the target's updates could not be listed; "
                  f"asking again in {wait:g} s")  # fmt: skip
        await ctx.clock.sleep(wait)
    return offered


async def later_plan(
    ctx: RoundContext,
    round_no: int,
    frozen: Mapping[str, str],
    reports: list[RoundReport],
    settle_window: SettleWindow | None = None,
) -> tuple[dict[str, str], set[str]]:
    """Return a later round's plan (frozen versions, plus ids that appeared since) and the
    ids caught looping (installed before, offered again as is), which it excludes."""
    offered = await _prescan_patiently(ctx, round_no, settle_window)
    if offered is None:
        ctx.warn(
            round_no,
            "could not list the target's updates before this round; "
            "only the frozen plan's updates may be installed",
        )
        return dict(frozen), set()
    loops = set(find_loops(reports, offered))
    for update_id in sorted(loops):
        ctx.warn(
            round_no,
            f"update loop: {update_id} was installed and is offered again; not retrying it",
        )
    return extend_plan(frozen, {k: v for k, v in offered.items() if k not in loops}), loops


async def round_plan(
    ctx: RoundContext,
    round_no: int,
    frozen: dict[str, str] | None,
    reports: list[RoundReport],
    settle_window: SettleWindow | None = None,
) -> tuple[dict[str, str] | None, set[str]]:
    """Return a round's plan and the looping ids it excludes (round 1: the frozen plan)."""
    if round_no == 1 or frozen is None:
        return frozen, set()
    return await later_plan(ctx, round_no, frozen, reports, settle_window)
