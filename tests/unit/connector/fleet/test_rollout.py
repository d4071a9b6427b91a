"""The fleet engine with a fake run function: real asyncio, real batches, real timing order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from patchpilot.connector.fleet.pause import pause_path, set_paused
from patchpilot.connector.fleet.rollout import (
    EXIT_FLEET_FAILED,
    FleetEvent,
    FleetOptions,
    Order,
    ServerOutcome,
    exceeds_fail_threshold,
    order_hosts,
    parse_serial,
    plan_batches,
    run_fleet,
)
from patchpilot.connector.inventory import HostEntry
from patchpilot.errors import ConfigurationError, ConnectError


def _hosts(count: int) -> list[HostEntry]:
    return [HostEntry(f"h{i:02d}", f"10.0.0.{i}") for i in range(1, count + 1)]


class FakeRunner:
    """Records how many servers run at once; fails the hosts it is told to."""

    def __init__(self, failing: frozenset[str] = frozenset(), delay: float = 0.01) -> None:
        self.failing = failing
        self.delay = delay
        self.active = 0
        self.peak = 0
        self.started: list[str] = []

    async def __call__(self, host: HostEntry) -> ServerOutcome:
        self.started.append(host.name)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            if host.name in self.failing:
                raise ConnectError(f"{host.name}: refused")
            return ServerOutcome(host.name, 0, False, {"host": host.name, "rounds": 1})
        finally:
            self.active -= 1


@pytest.mark.parametrize(
    ("count", "serial", "sizes"),
    [
        (10, (), [10]),
        (0, (), []),
        (10, (3,), [3, 3, 3, 1]),
        (10, ("30%",), [3, 3, 3, 1]),
        (10, ("5%",), [1] * 10),
        (10, (1, 2, "50%"), [1, 2, 5, 2]),
        (2, (5,), [2]),
    ],
)
def test_plan_batches(count: int, serial: tuple[int | str, ...], sizes: list[int]) -> None:
    assert plan_batches(count, serial) == sizes


def test_parse_serial() -> None:
    assert parse_serial("2") == (2,)
    assert parse_serial("1, 25%") == (1, "25%")
    for bad in ("0", "x", "150%", "", "-1"):
        with pytest.raises(ConfigurationError):
            parse_serial(bad)


@pytest.mark.parametrize(
    ("failed", "size", "percent", "stops"),
    [
        (0, 5, 0, False),
        (1, 5, 0, True),
        (1, 5, 20, False),
        (2, 5, 20, True),
        (4, 5, None, False),
        (5, 5, None, True),
        (1, 1, 100, False),
    ],
)
def test_fail_threshold(failed: int, size: int, percent: float | None, stops: bool) -> None:
    assert exceeds_fail_threshold(failed, size, percent) is stops


def test_order() -> None:
    hosts = list(reversed(_hosts(5)))
    assert [h.name for h in order_hosts(hosts, Order.SORTED)] == [f"h0{i}" for i in range(1, 6)]
    assert order_hosts(hosts, Order.INVENTORY) == hosts
    shuffled = order_hosts(hosts, Order.SHUFFLE, seed=4)
    assert sorted(h.name for h in shuffled) == sorted(h.name for h in hosts)
    assert shuffled == order_hosts(hosts, Order.SHUFFLE, seed=4)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        FleetOptions(concurrency=0)
    with pytest.raises(ConfigurationError):
        FleetOptions(max_fail_percent=101)


async def test_concurrency_bounds_servers_in_flight() -> None:
    runner = FakeRunner()
    result = await run_fleet(_hosts(12), runner, FleetOptions(concurrency=4))
    assert runner.peak == 4
    assert result.exit_code == 0
    assert result.totals == {"servers": 12, "succeeded": 12, "failed": 0, "not-started": 0}


async def test_batches_run_one_after_another() -> None:
    runner = FakeRunner()
    events: list[FleetEvent] = []
    await run_fleet(_hosts(5), runner, FleetOptions(serial=(2,)), on_event=events.append)
    assert runner.peak == 2
    kinds = [(e.kind, e.batch) for e in events if e.kind in ("batch", "end")]
    assert kinds == [
        ("batch", 1),
        ("end", 1),
        ("end", 1),
        ("batch", 2),
        ("end", 2),
        ("end", 2),
        ("batch", 3),
        ("end", 3),
    ]


async def test_failures_over_threshold_stop_new_batches() -> None:
    runner = FakeRunner(failing=frozenset({"h01"}))
    events: list[FleetEvent] = []
    options = FleetOptions(serial=(2,), max_fail_percent=40)
    result = await run_fleet(_hosts(6), runner, options, on_event=events.append)
    assert runner.started == ["h01", "h02"]
    assert result.stopped_early
    assert result.totals == {"servers": 6, "succeeded": 1, "failed": 1, "not-started": 4}
    assert result.exit_code == EXIT_FLEET_FAILED
    assert [e.detail for e in events if e.kind == "stop"] == ["1/2 failed"]
    servers = result.to_dict()["servers"]
    assert isinstance(servers, list)
    assert servers[0]["status"] == "failed" and servers[0]["exit_code"] == ConnectError.exit_code
    assert servers[2] == {"host": "h03", "status": "not-started", "exit_code": None, "result": None}


async def test_in_flight_servers_finish_when_threshold_trips() -> None:
    runner = FakeRunner(failing=frozenset({"h01"}))
    result = await run_fleet(_hosts(6), runner, FleetOptions(concurrency=3, max_fail_percent=0))
    assert runner.started == ["h01", "h02", "h03"]
    assert result.totals["succeeded"] == 2 and result.totals["not-started"] == 3


async def test_failures_under_threshold_let_the_rollout_go_on() -> None:
    runner = FakeRunner(failing=frozenset({"h01", "h04"}))
    result = await run_fleet(_hosts(6), runner, FleetOptions(serial=(3,), max_fail_percent=50))
    assert not result.stopped_early
    assert result.totals == {"servers": 6, "succeeded": 4, "failed": 2, "not-started": 0}
    assert result.exit_code == EXIT_FLEET_FAILED


@pytest.mark.parametrize("percent", [None, 100])
async def test_same_code_everywhere_is_the_fleet_code(percent: float | None) -> None:
    runner = FakeRunner(failing=frozenset({"h01", "h02"}))
    result = await run_fleet(_hosts(2), runner, FleetOptions(max_fail_percent=percent))
    assert not result.stopped_early
    assert result.exit_code == ConnectError.exit_code


async def test_a_bug_in_one_server_is_that_servers_failure() -> None:
    async def broken(host: HostEntry) -> ServerOutcome:
        raise RuntimeError("boom")

    result = await run_fleet(_hosts(2), broken, FleetOptions(max_fail_percent=100))
    assert result.totals["failed"] == 2
    assert result.exit_code == 70


async def test_successes_with_a_reboot_pending_give_the_highest_code() -> None:
    async def run(host: HostEntry) -> ServerOutcome:
        return ServerOutcome(host.name, 10 if host.name == "h02" else 0, False)

    result = await run_fleet(_hosts(3), run, FleetOptions())
    assert result.exit_code == 10


async def test_wsus_fleet_failure_code() -> None:
    runner = FakeRunner(failing=frozenset({"h01"}))
    result = await run_fleet(_hosts(2), runner, FleetOptions(failure_code=-1, max_fail_percent=0))
    assert result.exit_code == -1


async def test_max_fail_counts_failures_over_every_batch() -> None:
    """Issue 24 (4): one failure in each of batches 1 and 2 (50 % of each: under
    --max-fail-percent 50) reaches --max-fail 2, so batch 3 never starts."""
    runner = FakeRunner(failing=frozenset({"h01", "h04"}))
    events: list[FleetEvent] = []
    options = FleetOptions(serial=(2,), max_fail_percent=50, max_fail=2)
    result = await run_fleet(_hosts(6), runner, options, on_event=events.append)
    assert runner.started == ["h01", "h02", "h03", "h04"]
    assert result.stopped_early and result.exit_code == EXIT_FLEET_FAILED
    assert result.totals == {"servers": 6, "succeeded": 2, "failed": 2, "not-started": 2}
    assert [e.detail for e in events if e.kind == "stop"] == [
        "2 failed in all batches (--max-fail 2)"
    ]
    unbounded = await run_fleet(
        _hosts(6),
        FakeRunner(failing=frozenset({"h01", "h04"})),
        FleetOptions(serial=(2,), max_fail_percent=50),
    )
    assert not unbounded.stopped_early  # per batch alone, the same failures never stop it


async def test_a_paused_fleet_starts_no_server_until_resumed(tmp_path: Path) -> None:
    """Issue 24 (4): servers in flight finish, none starts while the pause file exists, and
    the rollout goes on once it is gone."""
    pause = tmp_path / "f1.pause"
    runner = FakeRunner(delay=0.3)
    events: list[FleetEvent] = []
    options = FleetOptions(concurrency=1, pause_file=pause, pause_timeout=30)

    def on_event(event: FleetEvent) -> None:
        events.append(event)
        if event.kind == "start" and event.host == "h01":
            pause.touch()  # paused while h01 runs

    rollout = asyncio.ensure_future(run_fleet(_hosts(3), runner, options, on_event=on_event))
    await asyncio.sleep(1.5)
    assert runner.started == ["h01"]  # h01 finished; h02 waits
    assert [e.kind for e in events if e.kind in ("pause", "resume")] == ["pause"]
    pause.unlink()
    result = await asyncio.wait_for(rollout, 10)
    assert runner.started == ["h01", "h02", "h03"] and not result.stopped_early
    assert [e.kind for e in events if e.kind in ("pause", "resume")] == ["pause", "resume"]


async def test_a_pause_past_its_timeout_ends_the_rollout(tmp_path: Path) -> None:
    pause = tmp_path / "f1.pause"
    pause.touch()
    events: list[FleetEvent] = []
    options = FleetOptions(concurrency=2, pause_file=pause, pause_timeout=1.5)
    result = await asyncio.wait_for(
        run_fleet(_hosts(3), FakeRunner(), options, on_event=events.append), 10
    )
    assert result.stopped_early and result.exit_code == EXIT_FLEET_FAILED
    assert result.totals["not-started"] == 3
    (timeout,) = [e for e in events if e.kind == "pause-timeout"]
    assert timeout.detail == "paused longer than --pause-timeout 1.5 s"


def test_pause_and_resume_through_the_pause_file(tmp_path: Path) -> None:
    path = pause_path(tmp_path, "nightly")
    assert path == tmp_path / "fleets" / "nightly.pause"
    assert set_paused(tmp_path, "nightly") is True and path.exists()
    assert set_paused(tmp_path, "nightly") is False and not path.exists()  # again: resume
    assert set_paused(tmp_path, "nightly", True) and set_paused(tmp_path, "nightly", True)
    assert set_paused(tmp_path, "nightly", False) is False and not path.exists()
    with pytest.raises(ConfigurationError, match="max-fail"):
        FleetOptions(max_fail=0)
