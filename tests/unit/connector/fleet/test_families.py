"""Grouping a mixed fleet by package family and release (the probe's output, parsed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpilot.connector.backoff import Backoff
from patchpilot.connector.fleet import FleetJob, FleetOptions, list_groups, prepare_fleet
from patchpilot.connector.fleet.families import (
    UNKNOWN,
    FamilyPlan,
    family_plans,
    group_lines,
    probe_patiently,
)
from patchpilot.connector.inventory import HostEntry, load_inventory
from patchpilot.connector.options import RunOptions
from patchpilot.connector.targets.linux import parse_family


@pytest.mark.parametrize(
    ("status", "stdout", "group"),
    [
        (0, "apt debian 12\n", "deb/debian-12"),
        (0, "dnf rhel 9.4\n", "rpm/rhel-9.4"),
        (0, "dnf5 fedora 41\n", "rpm/fedora-41"),
        (0, "zypper sles 15.6\n", "rpm/sles-15.6"),
        (0, "zypper debian 12\n", "rpm/debian-12"),  # the lab's zypper servers
        (1, "apt debian 12\n", "unknown"),
        (0, "", "unknown"),
        (0, "apt debian 12 extra\n", "unknown"),
        (0, "apt $(rm) 12\n", "unknown"),
    ],
)
def test_parse_family(status: int, stdout: str, group: str) -> None:
    assert parse_family(status, stdout) == group


INVENTORY = """\
all:
  hosts:
    deb1: {ansible_host: 10.0.0.1}
    rpm1: {ansible_host: 10.0.0.2}
    deb2: {ansible_host: 10.0.0.3}
    rpm2: {ansible_host: 10.0.0.4}
    lost: {ansible_host: 10.0.0.5}
"""
GROUPS = {
    "deb1": "deb/debian-12",
    "deb2": "deb/debian-12",
    "rpm1": "rpm/rhel-9",
    "rpm2": "rpm/rhel-9",
    "lost": "unknown",
}


async def test_one_plan_per_family_from_its_plan_host(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(INVENTORY)
    inventory = load_inventory(tmp_path / "inv.yml")
    frozen: list[tuple[str, str]] = []

    async def probe(host: HostEntry) -> str:
        return GROUPS[host.name]

    async def freeze(host: HostEntry, run_id: str) -> dict[str, str]:
        frozen.append((host.name, run_id))
        return {"from": host.name}

    plans = await family_plans(
        inventory.hosts,
        [inventory.host("rpm2")],  # --plan-from rpm2: the rpm group's; deb's is its first host
        fleet_run_id="f1",
        is_check_only=False,
        probe=probe,
        freeze=freeze,
    )
    assert frozen == [("rpm2", "f1"), ("deb1", "f1-1")]
    assert {name: (p.group, p.plan_from) for name, p in plans.items()} == {
        "deb1": ("deb/debian-12", "deb1"),
        "deb2": ("deb/debian-12", "deb1"),
        "rpm1": ("rpm/rhel-9", "rpm2"),
        "rpm2": ("rpm/rhel-9", "rpm2"),
        "lost": ("rpm/rhel-9", "rpm2"),  # unknown: the first plan host's plan
    }
    assert plans["deb2"].plan == {"from": "deb1"}
    frozen.clear()
    none = await family_plans(
        inventory.hosts, [inventory.host("deb1")], fleet_run_id="f2", is_check_only=True,
        probe=probe, freeze=freeze,
    )  # fmt: skip
    assert frozen == [] and {p.plan for p in none.values()} == {None}


async def test_a_resumed_fleet_waits_for_a_rebooting_server_to_read_its_group() -> None:
    """A server still rebooting when a killed fleet is resumed reads as unknown at first; read
    patiently it keeps its group, so no second plan is frozen on another server."""
    answers = [UNKNOWN, UNKNOWN, "deb/debian-12"]
    host = HostEntry("deb1", "10.0.0.1")

    async def probe(entry: HostEntry) -> str:
        return answers.pop(0) if answers else "deb/debian-12"

    assert await probe_patiently(probe, host, 5.0, polls=Backoff(first=0.01)) == "deb/debian-12"
    answers[:] = [UNKNOWN, "deb/debian-12"]
    # a new fleet: no patience
    assert await probe_patiently(probe, host, 0.0, polls=Backoff(first=0.01)) == UNKNOWN


async def test_a_check_only_fleet_reads_the_groups_and_freezes_nothing(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(INVENTORY)
    inventory = load_inventory(tmp_path / "inv.yml")

    async def probe(host: HostEntry) -> str:
        return GROUPS[host.name]

    async def freeze(host: HostEntry, run_id: str) -> dict[str, str]:
        raise AssertionError("a check-only fleet freezes no plan")

    plans = await family_plans(
        inventory.hosts, [inventory.host("deb1")], fleet_run_id="f", is_check_only=True,
        probe=probe, freeze=freeze,
    )  # fmt: skip
    assert {name: plan.group for name, plan in plans.items()} == GROUPS
    assert group_lines(plans) == [
        "deb/debian-12: deb1, deb2",
        "rpm/rhel-9: rpm1, rpm2",
        "unknown: lost",
    ]


def test_group_lines_name_each_groups_plan_host() -> None:
    d11, d12 = FamilyPlan("deb/debian-11", "a", None), FamilyPlan("deb/debian-12", "b", None)
    plans = {"a": d11, "b": d12, "c": d11}
    assert group_lines(plans) == [
        "deb/debian-11 (plan from a): a, c",
        "deb/debian-12 (plan from b): b",
    ]


async def test_list_groups_reads_every_server_and_says_where_each_plan_comes_from(
    tmp_path: Path,
) -> None:
    (tmp_path / "inv.yml").write_text(INVENTORY)
    job = FleetJob(tmp_path / "inv.yml", None, FleetOptions(), "rpm2", "f", RunOptions())
    probed: list[str] = []

    async def probe(host: HostEntry) -> str:
        probed.append(host.name)
        return GROUPS[host.name]

    lines = await list_groups(prepare_fleet(job), prober=probe)
    assert sorted(probed) == sorted(GROUPS)
    assert lines == [
        "deb/debian-12 (plan from deb1): deb1, deb2",
        "rpm/rhel-9 (plan from rpm2): rpm1, rpm2, lost",  # unknown: the first plan host's
    ]
