"""bench/faults.py's pure parts: the seeded schedule, the package managers' logs, the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from patchpilot.lab.faults import SERVER_FAULTS, kinds_for
from patchpilot.lab.server import Server

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))
try:
    import faults  # a script beside the tests, not a package
finally:
    sys.path.remove(str(BENCH))

SERVERS = [Server("lab-1", "10.0.0.2"), Server("lab-2", "10.0.0.3", flavor="zypper")]
ARGS = argparse.Namespace(postgres=False, max_cut=120.0, window=60.0)


def test_a_seed_replays_the_same_schedule_and_another_seed_does_not() -> None:
    first = faults.schedule(faults.random.Random(3), SERVERS, 40, ARGS)
    again = faults.schedule(faults.random.Random(3), SERVERS, 40, ARGS)
    other = faults.schedule(faults.random.Random(4), SERVERS, 40, ARGS)
    assert first == again and first != other
    assert [f.at for f in first] == sorted(f.at for f in first)
    assert all(0 <= f.at <= 60 and 5 <= f.seconds <= 120 for f in first)
    zypper = {f.kind for f in first if f.server == "lab-2"}
    assert "repository-gone" not in zypper  # not injectable there


def test_the_store_restart_is_scheduled_only_with_a_shared_store() -> None:
    kinds = {f.kind for f in faults.schedule(faults.random.Random(1), SERVERS, 200, ARGS)}
    assert "store-restarted" not in kinds and {"connector-killed", "clock-jump"} <= kinds
    shared = argparse.Namespace(postgres=True, max_cut=30.0, window=60.0)
    kinds = {f.kind for f in faults.schedule(faults.random.Random(1), SERVERS, 200, shared)}
    assert "store-restarted" in kinds


DPKG = """2026-12-07 03:14:01 upgrade lab-base-a:all 1.0 2.0
2026-12-07 03:14:01 status half-installed lab-base-a:all 1.0
2026-12-07 03:14:02 status installed lab-base-a:all 2.0
2026-12-07 03:14:09 status installed lab-base-a:all 2.0
2026-12-07 03:14:03 status installed lab-slow:all 2.0"""
DNF = """2026-12-07T03:20:01+0000 SUBDEBUG Upgrade: lab-base-a-2.0-1.noarch
2026-12-07T03:20:01+0000 SUBDEBUG Upgraded: lab-base-a-1.0-1.noarch
2026-12-07T03:20:02+0000 SUBDEBUG Upgrade: lab-epoch-1:0.9-1.noarch"""
ZYPP = """2026-12-07 03:20:01|install|lab-base-c|1.1-1|noarch||lab|abc|
2026-12-07 03:20:01|remove |lab-base-c|1.0-1|noarch|root@lab-3|"""


@pytest.mark.parametrize(
    ("flavor", "log", "expected"),
    [
        ("apt", DPKG, {"lab-base-a 2.0": 2, "lab-slow 2.0": 1}),
        ("dnf", DNF, {"lab-base-a 2.0-1": 1, "lab-epoch 1:0.9-1": 1}),
        ("zypper", ZYPP, {"lab-base-c 1.1-1": 1}),
    ],
)
def test_the_package_managers_logs_say_what_reached_which_version(
    flavor: str, log: str, expected: dict[str, int]
) -> None:
    assert dict(faults.upgraded(flavor, log.splitlines())) == expected


def test_rpm_counts_the_headers_the_campaign_added_not_those_of_its_start_second() -> None:
    # seed 7 (dnf): lab-slow 1.0 was put on the server in the very second the campaign read
    # the clock, and an INSTALLTIME >= start counted it as installed by the run
    before = ["lab-slow 0:1.0-1 1765090000", "lab-base-a 0:1.0-1 1765089000"]
    after = [
        "lab-slow 0:1.0-1 1765090000",  # its update failed: still the campaign's own 1.0
        "lab-base-a 0:2.0-1 1765090000",  # upgraded in the same second
        "lab-epoch 1:0.9-1 1765090100",
    ]
    assert faults.rpm_installed(before, after) == {"lab-base-a 2.0-1", "lab-epoch 1:0.9-1"}
    again = ["lab-slow 0:1.0-1 1765090007"]  # installed again (a repair's reinstall)
    assert faults.rpm_installed(before, again) == {"lab-slow 1.0-1"}


def test_the_table_counts_faults_by_kind_and_names_each_violation_with_its_seed() -> None:
    runs = [
        {
            "seed": 9,
            "faults": [
                {"kind": "reset", "server": "lab-1", "done": True},
                {"kind": "reset", "server": "lab-2", "done": True},
                {"kind": "link-cut", "server": "lab-2", "done": False},
            ],
            "violations": [
                {
                    "seed": 9,
                    "server": "lab-2",
                    "flavor": "zypper",
                    "exit": 0,
                    "faults": ["link-cut", "reset"],
                    "violation": "brought to a version twice: x",
                }
            ],
            "exits": {"lab-1": 0, "lab-2": 0},
        }
    ]
    text = faults.table(runs)
    assert "reset                         2        2        1" in text
    assert "link-cut                      1        0        0" in text
    assert "servers: 2, survived: 1; exit codes: 0: 2" in text
    assert "seed 9 lab-2 (zypper, exit 0, faults link-cut, reset): brought to a version" in text


def test_every_server_fault_is_known_and_zypper_has_no_repository_fault() -> None:
    assert kinds_for("apt") == SERVER_FAULTS == kinds_for("dnf")
    assert set(kinds_for("zypper")) == set(SERVER_FAULTS) - {"repository-gone"}
