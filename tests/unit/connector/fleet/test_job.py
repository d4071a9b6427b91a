"""Per-host options from inventory variables, server run ids, and resuming through the store."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from patchpilot.connector.events import Event
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.fleet.collector import YOUNG_PER_SERVER
from patchpilot.connector.fleet.families import PROBES_AT_ONCE, FamilyPlan
from patchpilot.connector.fleet.job import (
    FleetJob,
    all_host_options,
    check_fleet_run_id,
    freeze_plan,
    host_options,
    new_fleet_run_id,
    run_fleet_job,
    run_one_with,
    server_run_id,
    target_of,
)
from patchpilot.connector.fleet.rollout import FleetOptions
from patchpilot.connector.inventory import HostEntry, Inventory, load_inventory
from patchpilot.connector.options import RUN_ID_RE, RunOptions
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store, open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.errors import ClientProtocolError, ConfigurationError, PatchpilotError

INVENTORY = """\
all:
  vars:
    patchpilot_max_rounds: 3
  children:
    web:
      vars:
        patchpilot_reboot: never
      hosts:
        w1:
          ansible_host: 10.1.0.1
          ansible_user: admin
          ansible_ssh_private_key_file: /keys/w1
          patchpilot_include: "openssl, libssl*"
    db:
      hosts:
        d1:
          ansible_port: 2222
          patchpilot_security_only: "yes"
"""


def _inventory(tmp_path: Path, text: str = INVENTORY, name: str = "inv.yml") -> Inventory:
    path = tmp_path / name
    path.write_text(text)
    return load_inventory(path)


def test_group_and_host_variables_override_the_command_line(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    options = all_host_options(RunOptions(reboot="always"), inventory.hosts)
    assert options["w1"].reboot == "never"
    assert options["w1"].max_rounds == 3
    assert options["w1"].include == ("openssl", "libssl*")
    assert options["d1"].reboot == "always"
    assert options["d1"].security_only is True


def test_hosts_with_the_same_variables_share_one_options_object(tmp_path: Path) -> None:
    """10,000 hosts held a validated copy each (docs/benchmarks.md): equal values share one."""
    text = "[web]\nw1\nw2\nw3 patchpilot_reboot=never\nw4 patchpilot_reboot=never\nw5\n"
    inventory = _inventory(tmp_path, text, "i.ini")
    options = all_host_options(RunOptions(reboot="always"), inventory.hosts)
    assert options["w1"] is options["w2"] is options["w5"] and options["w1"].reboot == "always"
    assert options["w3"] is options["w4"] and options["w3"].reboot == "never"


def test_the_first_host_with_an_invalid_value_is_named(tmp_path: Path) -> None:
    text = "[web]\nw1\nw2 patchpilot_reboot=sometimes\nw3 patchpilot_reboot=sometimes\n"
    inventory = _inventory(tmp_path, text, "i.ini")
    with pytest.raises(ConfigurationError, match=r"i\.ini:3: patchpilot_reboot"):
        all_host_options(RunOptions(), inventory.hosts)


def test_unknown_variable_names_its_line(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, "[web]\nw1\n[web:vars]\npatchpilot_rebot=never\n", "i.ini")
    with pytest.raises(ConfigurationError, match=r"i\.ini:4: patchpilot_rebot is not"):
        host_options(RunOptions(), inventory.host("w1"))


def test_invalid_value_names_its_line(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, "[web]\nw1 patchpilot_reboot=sometimes\n", "i.ini")
    with pytest.raises(ConfigurationError, match=r"i\.ini:2: patchpilot_reboot"):
        host_options(RunOptions(), inventory.host("w1"))


def test_run_id_is_not_a_per_host_option(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, "[web]\nw1 patchpilot_run_id=x\n", "i.ini")
    with pytest.raises(ConfigurationError, match="not a per-host run option"):
        host_options(RunOptions(), inventory.host("w1"))


def test_target_of_takes_the_connection_variables(tmp_path: Path) -> None:
    target = target_of(_inventory(tmp_path).host("w1"))
    assert (target.name, target.host, target.user, target.key_file) == (
        "w1",
        "10.1.0.1",
        "admin",
        "/keys/w1",
    )
    assert target_of(_inventory(tmp_path).host("d1")).port == 2222


@pytest.mark.parametrize(
    "host", ["web01", "web01.example.com", "10.0.0.7", "fe80::1", "x" * 80, "a b"]
)
def test_server_run_ids_are_valid_and_distinct(host: str) -> None:
    fleet = new_fleet_run_id()
    run_id = server_run_id(fleet, host)
    assert RUN_ID_RE.match(run_id) and run_id.startswith(fleet + ".")
    assert run_id != server_run_id(fleet, host + "x")


def test_fleet_run_id_is_checked() -> None:
    assert check_fleet_run_id("nightly-1") == "nightly-1"
    for bad in ("", "-x", "a" * 41, "a/b", "nightly\n"):
        with pytest.raises(ConfigurationError):
            check_fleet_run_id(bad)


class FakeRunTarget:
    """Stands for run_target: records each call; a scan stores a plan as round 1 would."""

    def __init__(
        self,
        outcome: Outcome = Outcome.SUCCESS,
        exit_code: int = 0,
        plan: dict[str, str] | None = None,
    ) -> None:
        self.outcome = outcome
        self.exit_code = exit_code
        self.plan = plan or {"lab-base-a": "2.0"}
        self.calls: list[RunOptions] = []
        self.started: list[str] = []

    async def __call__(
        self,
        target: TargetSpec,
        options: RunOptions,
        *,
        store: Store,
        on_event: Callable[[Event], None],
        plan_later: Callable[[], Awaitable[dict[str, str] | None]] | None = None,
    ) -> RunResult:
        self.started.append(str(options.run_id))
        if plan_later is not None:
            options = options.model_copy(update={"plan": await plan_later()})
        self.calls.append(options)
        run_id = str(options.run_id)
        store.create_run(
            RunRow(
                run_id,
                target.name,
                options.mode,
                "{}",
                Secret.generate(),
                "running",
                None,
                "t0",
                None,
                None,
            )
        )
        if options.check_only:
            store.set_plan(run_id, self.plan)
        return RunResult(
            run_id,
            target.name,
            options.mode,
            self.outcome.value,
            self.outcome,
            self.exit_code,
            "native",
            "t0",
            "t1",
            errors=("boom",),
        )


async def test_every_server_gets_its_run_id_and_the_frozen_plan(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    store = open_store(tmp_path / "state")
    fake = FakeRunTarget()
    options = all_host_options(RunOptions(), inventory.hosts)
    plan = await freeze_plan(
        fake,
        inventory.host("d1"),
        options["d1"],
        fleet_run_id="f1",
        store=store,
        on_event=lambda e: None,
    )
    run_one = run_one_with(
        fake, options=options, plan=plan, fleet_run_id="f1", store=store, on_event=lambda e: None
    )
    outcome = await run_one(inventory.host("w1"))
    assert plan == {"lab-base-a": "2.0"}
    assert [(o.run_id, o.check_only, o.plan, o.reboot) for o in fake.calls] == [
        ("f1-plan", True, None, "if-required"),
        ("f1.w1", False, {"lab-base-a": "2.0"}, "never"),
    ]
    assert (outcome.exit_code, outcome.is_failure, outcome.result["run_id"]) == (0, False, "f1.w1")


async def test_a_failed_plan_scan_stops_the_fleet_with_its_code(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    fake = FakeRunTarget(Outcome.UNREACHABLE, 69)
    with pytest.raises(PatchpilotError, match=r"scan of d1 failed \(unreachable: boom") as info:
        await freeze_plan(
            fake,
            inventory.host("d1"),
            RunOptions(),
            fleet_run_id="f1",
            store=open_store(tmp_path / "state"),
            on_event=lambda e: None,
        )
    assert info.value.exit_code == 69


async def test_a_check_only_fleet_needs_no_plan(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    fake = FakeRunTarget()
    plan = await freeze_plan(
        fake,
        inventory.host("d1"),
        RunOptions(check_only=True),
        fleet_run_id="f1",
        store=open_store(tmp_path / "state"),
        on_event=lambda e: None,
    )
    assert plan is None and fake.calls == []


async def test_servers_are_prepared_while_the_plan_is_frozen(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    store = open_store(tmp_path / "state")
    fake = FakeRunTarget()
    options = all_host_options(RunOptions(), inventory.hosts)
    plans: asyncio.Future[dict[str, FamilyPlan]] = asyncio.get_running_loop().create_future()
    run_one = run_one_with(
        fake,
        options=options,
        plan=None,
        fleet_run_id="f1",
        store=store,
        on_event=lambda e: None,
        families_later=plans,
    )
    w1 = asyncio.ensure_future(run_one(inventory.host("w1")))
    await asyncio.sleep(0.01)
    assert fake.started == ["f1.w1"] and fake.calls == []  # prepared, waiting for its plan
    group = FamilyPlan("deb/debian-12", "d1", {"lab-base-a": "2.0"})
    plans.set_result({"w1": group, "d1": group})
    outcome = await w1
    assert [o.plan for o in fake.calls] == [{"lab-base-a": "2.0"}]
    assert outcome.result["plan_group"] == "deb/debian-12"


async def test_a_failed_plan_cancels_the_servers_being_prepared(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    fake = FakeRunTarget()
    plans: asyncio.Future[dict[str, FamilyPlan]] = asyncio.get_running_loop().create_future()
    run_one = run_one_with(
        fake,
        options=all_host_options(RunOptions(), inventory.hosts),
        plan=None,
        fleet_run_id="f1",
        store=open_store(tmp_path / "state"),
        on_event=lambda e: None,
        families_later=plans,
    )
    w1 = asyncio.ensure_future(run_one(inventory.host("w1")))
    await asyncio.sleep(0.01)
    plans.set_exception(PatchpilotError("cannot freeze the fleet's plan"))
    with pytest.raises(asyncio.CancelledError):
        await w1
    assert fake.calls == []


async def test_a_malformed_plan_from_the_plan_host_stops_the_fleet(tmp_path: Path) -> None:
    """Root on the plan host could make every server's job spec invalid (review item 6)."""
    inventory = _inventory(tmp_path)
    store = open_store(tmp_path / "state")

    options = all_host_options(RunOptions(), inventory.hosts)
    with pytest.raises(ClientProtocolError, match="the plan from d1 is malformed"):
        await freeze_plan(
            FakeRunTarget(plan={"lab-base-a": "2.0\n; reboot"}),
            inventory.host("d1"),
            options["d1"],
            fleet_run_id="f1",
            store=store,
            on_event=lambda e: None,
        )


async def test_the_servers_run_with_a_young_generation_sized_to_the_fleet(tmp_path: Path) -> None:
    """fleet/collector.py: 300 servers in flight, 1,200 objects of young generation."""
    hosts = "".join(f"    h{i}:\n" for i in range(300))
    (tmp_path / "inv.yml").write_text(f"all:\n  hosts:\n{hosts}")
    thresholds: set[int] = set()

    class Recording(FakeRunTarget):
        async def __call__(self, *args: Any, **kwargs: Any) -> RunResult:
            thresholds.add(gc.get_threshold()[0])
            return await super().__call__(*args, **kwargs)

    async def probe(host: HostEntry) -> str:
        return "deb/debian-12"

    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    try:
        job = FleetJob(tmp_path / "inv.yml", None, FleetOptions(concurrency=300), None, "f1",
                       RunOptions())  # fmt: skip
        result = await run_fleet_job(
            job,
            store=open_store(tmp_path / "state"),
            on_server=lambda e: None,
            on_fleet=lambda e: None,
            runner=Recording(),
            prober=probe,
        )
        assert gc.get_threshold()[0] == 700
    finally:
        gc.set_threshold(*before)
    assert len(result.outcomes) == 300 and thresholds == {YOUNG_PER_SERVER * 300}


@pytest.mark.parametrize(("concurrency", "most"), [(60, 60), (5, PROBES_AT_ONCE)])
async def test_the_family_probes_go_as_many_at_once_as_the_servers(
    tmp_path: Path, concurrency: int, most: int
) -> None:
    """20 at a time, 10,000 servers waited 95 s for their groups (docs/benchmarks.md): the
    probes follow --concurrency, never fewer than PROBES_AT_ONCE."""
    hosts = "".join(f"    h{i}:\n" for i in range(100))
    (tmp_path / "inv.yml").write_text(f"all:\n  hosts:\n{hosts}")
    in_flight, seen = 0, 0

    async def probe(host: HostEntry) -> str:
        nonlocal in_flight, seen
        in_flight += 1
        seen = max(seen, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return "deb/debian-12"

    job = FleetJob(tmp_path / "inv.yml", None, FleetOptions(concurrency=concurrency), None,
                   "f1", RunOptions())  # fmt: skip
    result = await run_fleet_job(
        job,
        store=open_store(tmp_path / "state"),
        on_server=lambda e: None,
        on_fleet=lambda e: None,
        runner=FakeRunTarget(),
        prober=probe,
    )
    assert len(result.outcomes) == 100 and seen == most
