"""The connector: one target's round loop, reboot verification, a fleet, state store, reports.

It runs where the scheduler runs, reaches targets through `transports/`, starts the client
through `launchers/`, follows its journal (`run/stream.py`) and keeps every run in its state
store (`store/`). One target's run lives in `run/`, what differs per OS in `targets/`, the
rollout over many servers in `fleet/`, Ansible inventories in `inventory/`, reports in
`reports/`; the modules at this level are the small value types they all share.

The names below are its public surface: everything an integration (the CLI, the Airflow
provider, a script) needs to patch one server or a fleet and read the results. A test pins
them; anything else is internal and may move.
"""

from patchpilot.connector.events import (
    Event,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
)
from patchpilot.connector.exitcodes import Outcome, posix_status
from patchpilot.connector.fleet import (
    FleetEvent,
    FleetJob,
    FleetOptions,
    FleetResult,
    Order,
    PreparedFleet,
    ServerOutcome,
    check_fleet_run_id,
    exceeds_fail_threshold,
    freeze_plan,
    new_fleet_run_id,
    parse_serial,
    plan_batches,
    prepare_fleet,
    run_fleet_job,
    run_one_with,
    server_run_id,
    target_of,
)
from patchpilot.connector.inventory import HostEntry, Inventory, load_inventory
from patchpilot.connector.options import RunOptions, read_list_file
from patchpilot.connector.plan_check import check_plan
from patchpilot.connector.run.runner import cancel_stored_run, new_run_id, run_target
from patchpilot.connector.run_result import RunResult, write_result
from patchpilot.connector.run_status import RunStatus
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import Store, open_store
from patchpilot.connector.target_spec import TargetSpec, resolve_target

__all__ = [
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
]
