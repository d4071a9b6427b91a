"""The fleet's plan from the plan host's own first round, instead of a scan run before it.

A fleet freezes one plan: what the plan host offers. A check-only run on the plan host
(`freeze_plan`) costs a whole run (connect, deploy, lock, launch, scan, release) before the
plan is known. When the plan host is the first server the rollout starts anyway, its own
run's round 1 selects the same updates and journals them (`plan.selected`) before it
installs anything: the other servers take the plan from that record, while they connect and
deploy. When the plan host's run ends without having chosen a plan, the fleet fails as a
failed scan did (with that run's exit code) and the waiting servers are cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from patchpilot.connector.events import Event, JournalRecord
from patchpilot.connector.fleet.rollout import FleetOptions, Order, order_hosts, plan_batches
from patchpilot.connector.inventory import HostEntry
from patchpilot.connector.options import RunOptions
from patchpilot.connector.result import RunResult
from patchpilot.connector.store import Store
from patchpilot.errors import PatchpilotError

__all__ = ["FirstRoundPlan", "plan_host_goes_first"]


def plan_host_goes_first(
    hosts: Sequence[HostEntry], plan_host: HostEntry, rollout: FleetOptions, options: RunOptions
) -> bool:
    """Tell whether the plan host is the first server the rollout starts (so waiting for
    its round 1 cannot hold every slot), and the fleet installs (a check-only fleet has no
    plan)."""
    if options.check_only or rollout.order is Order.SHUFFLE or not hosts:
        return False
    ordered = order_hosts(hosts, rollout.order, rollout.seed)
    return ordered[0].name == plan_host.name and plan_batches(len(ordered), rollout.serial)[0] > 0


class FirstRoundPlan:
    """The plan as the plan host's round 1 selects it; `future` resolves then."""

    def __init__(self, host: str, run_id: str, store: Store) -> None:
        self.host = host
        self.run_id = run_id
        self.store = store
        self.future: asyncio.Future[dict[str, str] | None] = (
            asyncio.get_running_loop().create_future()
        )
        stored = store.run(run_id)  # a resumed fleet: round 1 chose it already
        if stored is not None and stored.frozen_plan is not None:
            self.future.set_result(stored.frozen_plan)

    def watch(self, on_event: Callable[[Event], None]) -> Callable[[Event], None]:
        """Return on_event that also resolves the plan at the plan host's `plan.selected`."""

        def emit(event: Event) -> None:
            if (
                not self.future.done()
                and isinstance(event, JournalRecord)
                and event.target == self.host
                and event.round == 1
                and event.record.get("event") == "plan.selected"
            ):
                plan = event.record.get("fields", {}).get("plan") or {}
                self.future.set_result({str(k): str(v) for k, v in plan.items()})
            on_event(event)

        return emit

    def settle(self, result: RunResult | None) -> None:
        """After the plan host's run: its stored plan, or the fleet's failure (exit code)."""
        if self.future.done():
            return
        row = self.store.run(self.run_id)
        if row is not None and row.frozen_plan is not None:
            self.future.set_result(row.frozen_plan)
            return
        detail = "cancelled"
        if result is not None:
            detail = f"{result.outcome.value}: {'; '.join(result.errors) or 'no detail'}"
        error = PatchpilotError(
            f"cannot freeze the fleet's plan: {self.host} ended before choosing it ({detail})"
        )
        if result is not None:
            error.exit_code = result.exit_code
        self.future.set_exception(error)
