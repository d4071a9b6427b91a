"""The connector's public surface: what an integration may import, pinned (as httpx does)."""

from __future__ import annotations

import types

import patchpilot.connector as connector

EXPECTED = {
    "EXIT_FLEET_FAILED",
    "EXIT_WINDOW_CLOSED",
    "METRICS_MODE",
    "STATE_URL_ENV",
    "Event",
    "EventSink",
    "FleetEvent",
    "FleetJob",
    "FleetOptions",
    "FleetResult",
    "HostEntry",
    "Inventory",
    "JobEnd",
    "JobFiles",
    "JournalRecord",
    "Order",
    "Outcome",
    "PhaseStarted",
    "PreparedFleet",
    "PrintableFormatter",
    "Report",
    "RunFinished",
    "RunOptions",
    "RunResult",
    "RunStarted",
    "RunStatus",
    "Secret",
    "ServerOutcome",
    "Store",
    "Summary",
    "TargetSpec",
    "WarningRaised",
    "cancel_stored_run",
    "check_fleet_run_id",
    "check_plan",
    "default_state_dir",
    "error_option",
    "event_json",
    "event_line",
    "exceeds_fail_threshold",
    "flat_fields",
    "fleet_summary",
    "format_fields",
    "format_line",
    "format_of",
    "freeze_plan",
    "gather",
    "has_password",
    "level_and_line",
    "list_groups",
    "list_options",
    "load_inventories",
    "load_inventory",
    "native_code",
    "new_fleet_run_id",
    "new_run_id",
    "notify",
    "open_store",
    "option_meta",
    "order_hosts",
    "parse_serial",
    "pause_path",
    "plan_batches",
    "posix_status",
    "prepare_fleet",
    "printable",
    "read_list_file",
    "render",
    "render_metrics",
    "resolve_target",
    "run_fleet_job",
    "run_job",
    "run_one_with",
    "run_summary",
    "run_target",
    "server_run_id",
    "set_paused",
    "sub_options",
    "target_of",
    "utc_now",
    "write_report_file",
    "write_result",
    "write_text_atomic",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(connector.__all__) == EXPECTED
    # ruff's order (RUF022): CONSTANTS, then Classes, then functions, each sorted
    kinds = sorted(connector.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n))
    assert connector.__all__ == kinds


def test_every_exported_name_exists_and_nothing_else_is_public() -> None:
    for name in connector.__all__:
        assert getattr(connector, name) is not None, name
    public = {
        name
        for name, value in vars(connector).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == EXPECTED
