"""The connector's public surface: what an integration may import, pinned (as httpx does)."""

from __future__ import annotations

import types

import patchpilot.connector as connector

EXPECTED = {
    "Event",
    "FleetEvent",
    "FleetJob",
    "FleetOptions",
    "FleetResult",
    "HostEntry",
    "Inventory",
    "JournalRecord",
    "Order",
    "Outcome",
    "PhaseStarted",
    "PreparedFleet",
    "RunFinished",
    "RunOptions",
    "RunResult",
    "RunStarted",
    "RunStatus",
    "Secret",
    "ServerOutcome",
    "Store",
    "TargetSpec",
    "WarningRaised",
    "cancel_stored_run",
    "check_fleet_run_id",
    "check_plan",
    "exceeds_fail_threshold",
    "freeze_plan",
    "load_inventory",
    "new_fleet_run_id",
    "new_run_id",
    "open_store",
    "parse_serial",
    "plan_batches",
    "posix_status",
    "prepare_fleet",
    "read_list_file",
    "resolve_target",
    "run_fleet_job",
    "run_one_with",
    "run_target",
    "server_run_id",
    "target_of",
    "write_result",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(connector.__all__) == EXPECTED
    assert connector.__all__ == sorted(connector.__all__, key=lambda n: (n[0].islower(), n))


def test_every_exported_name_exists_and_nothing_else_is_public() -> None:
    for name in connector.__all__:
        assert getattr(connector, name) is not None, name
    public = {
        name
        for name, value in vars(connector).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == EXPECTED
