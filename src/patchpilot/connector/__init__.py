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

from patchpilot.connector.event_lines import (
    event_json,
    event_line,
    format_fields,
    format_line,
    level_and_line,
)
from patchpilot.connector.events import (
    Event,
    EventSink,
    JournalRecord,
    PhaseStarted,
    RunFinished,
    RunStarted,
    WarningRaised,
    utc_now,
)
from patchpilot.connector.exitcodes import Outcome, native_code, posix_status
from patchpilot.connector.flat_options import flat_fields, list_options, sub_options
from patchpilot.connector.fleet import (
    EXIT_FLEET_FAILED,
    EXIT_WINDOW_CLOSED,
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
    list_groups,
    new_fleet_run_id,
    order_hosts,
    parse_serial,
    pause_path,
    plan_batches,
    prepare_fleet,
    run_fleet_job,
    run_one_with,
    server_run_id,
    set_paused,
    target_of,
)
from patchpilot.connector.inventory import HostEntry, Inventory, load_inventories, load_inventory
from patchpilot.connector.job import (
    METRICS_MODE,
    JobEnd,
    JobFiles,
    run_job,
    write_report_file,
)
from patchpilot.connector.notify import Summary, fleet_summary, notify, run_summary
from patchpilot.connector.option_spelling import error_option, option_meta
from patchpilot.connector.options import RunOptions
from patchpilot.connector.plan_check import check_plan
from patchpilot.connector.printable import PrintableFormatter, printable
from patchpilot.connector.reports import (
    Report,
    format_of,
    gather,
    render,
    render_metrics,
    write_text_atomic,
)
from patchpilot.connector.run.runner import cancel_stored_run, new_run_id, run_target
from patchpilot.connector.run_result import RunResult, write_result
from patchpilot.connector.run_status import RunStatus
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import Store, default_state_dir, open_store
from patchpilot.connector.store.select import STATE_URL_ENV, has_password
from patchpilot.connector.target_spec import TargetSpec, resolve_target
from patchpilot.connector.update_lists import read_list_file

__all__ = [
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
]
