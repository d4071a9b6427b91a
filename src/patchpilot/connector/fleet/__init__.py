"""Fleets: `rollout.py` rolls a run out over many servers in batches (knowing nothing of
rounds); `job.py` selects the hosts, checks their options, freezes the plan and wires the
rollout to `run_target`. `run_fleet_job` is the entry point."""

from patchpilot.connector.fleet.job import (
    FleetJob,
    PreparedFleet,
    check_fleet_run_id,
    freeze_plan,
    list_groups,
    new_fleet_run_id,
    prepare_fleet,
    run_fleet_job,
    run_one_with,
    server_run_id,
    target_of,
)
from patchpilot.connector.fleet.pause import pause_path, set_paused
from patchpilot.connector.fleet.rollout import (
    EXIT_FLEET_FAILED,
    EXIT_WINDOW_CLOSED,
    FleetEvent,
    FleetOptions,
    FleetResult,
    Order,
    ServerOutcome,
    exceeds_fail_threshold,
    order_hosts,
    parse_serial,
    plan_batches,
)

__all__ = [
    "EXIT_FLEET_FAILED",
    "EXIT_WINDOW_CLOSED",
    "FleetEvent",
    "FleetJob",
    "FleetOptions",
    "FleetResult",
    "Order",
    "PreparedFleet",
    "ServerOutcome",
    "check_fleet_run_id",
    "exceeds_fail_threshold",
    "freeze_plan",
    "list_groups",
    "new_fleet_run_id",
    "order_hosts",
    "parse_serial",
    "pause_path",
    "plan_batches",
    "prepare_fleet",
    "run_fleet_job",
    "run_one_with",
    "server_run_id",
    "set_paused",
    "target_of",
]
