"""The fleet's plan from the plan host's own round 1 (fleet/first_round.py), through
run_fleet_job with a runner standing for run_target."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from patchpilot.connector.events import Event, JournalRecord
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.fleet.first_round import plan_host_goes_first
from patchpilot.connector.fleet.job import FleetJob, prepare_fleet, run_fleet_job
from patchpilot.connector.fleet.rollout import FleetOptions, Order
from patchpilot.connector.options import RunOptions
from patchpilot.connector.result import RunResult
from patchpilot.connector.store import Store
from patchpilot.connector.target import TargetSpec
from patchpilot.errors import PatchpilotError

PLAN = {"lab-a": "2"}


class Runner:
    """Stands for run_target: the first host journals its plan, then takes `host_seconds`."""

    def __init__(self, first: str, *, selects: bool = True, host_seconds: float = 0.05) -> None:
        self.first = first
        self.selects = selects
        self.host_seconds = host_seconds
        self.plans: dict[str, dict[str, str] | None] = {}
        self.done: list[str] = []

    async def __call__(
        self,
        target: TargetSpec,
        options: RunOptions,
        *,
        store: Store,
        on_event: Callable[[Event], None],
        plan_later: Callable[[], Awaitable[dict[str, str] | None]] | None = None,
    ) -> RunResult:
        plan = options.plan
        if target.name == self.first:
            assert not options.check_only and plan is None and plan_later is None
            if self.selects:
                record = {"seq": 2, "event": "plan.selected", "fields": {"plan": PLAN}}
                on_event(JournalRecord(target=target.name, round=1, record=record))
            await asyncio.sleep(self.host_seconds)  # still installing while the others go
        elif plan_later is not None:
            plan = await plan_later()
        self.plans[target.name] = plan
        self.done.append(target.name)
        ok = target.name != self.first or self.selects
        outcome = Outcome.SUCCESS if ok else Outcome.UNREACHABLE
        return RunResult(
            str(options.run_id),
            target.name,
            "install",
            outcome.value,
            outcome,
            0 if ok else 69,
            "native",
            "t0",
            "t1",
        )


def job(tmp_path: Path, **rollout: object) -> FleetJob:
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    a1:\n    a2:\n    a3:\n")
    return FleetJob(
        tmp_path / "inv.yml",
        None,
        FleetOptions(**rollout),
        None,
        "f1",
        RunOptions(),  # type: ignore[arg-type]
    )


async def test_the_others_take_the_plan_from_the_plan_hosts_round_1(tmp_path: Path) -> None:
    runner = Runner("a1", host_seconds=0.2)
    result = await run_fleet_job(
        job(tmp_path, concurrency=2),
        store=Store.open(tmp_path / "state"),
        on_server=lambda e: None,
        on_fleet=lambda e: None,
        runner=runner,
    )
    assert runner.plans == {"a1": None, "a2": PLAN, "a3": PLAN}
    assert runner.done[-1] == "a1"  # no check-only run first; the others did not wait for it
    assert all(o is not None and not o.is_failure for o in result.outcomes)


async def test_a_plan_host_that_ends_without_a_plan_fails_the_fleet(tmp_path: Path) -> None:
    runner = Runner("a1", selects=False)
    with pytest.raises(PatchpilotError, match="a1 ended before choosing it") as info:
        await run_fleet_job(
            job(tmp_path),
            store=Store.open(tmp_path / "state"),
            on_server=lambda e: None,
            on_fleet=lambda e: None,
            runner=runner,
        )
    assert info.value.exit_code == 69
    assert runner.done == ["a1"]  # the others were cancelled waiting for the plan


def test_the_plan_host_must_start_first(tmp_path: Path) -> None:
    prepared = prepare_fleet(job(tmp_path))
    hosts, a1, a2 = prepared.hosts, prepared.hosts[0], prepared.hosts[1]
    assert plan_host_goes_first(hosts, a1, FleetOptions(), RunOptions())
    assert not plan_host_goes_first(hosts, a2, FleetOptions(), RunOptions())  # --plan-from a2
    assert not plan_host_goes_first(hosts, a1, FleetOptions(order=Order.SHUFFLE), RunOptions())
    assert not plan_host_goes_first(hosts, a1, FleetOptions(), RunOptions(check_only=True))
