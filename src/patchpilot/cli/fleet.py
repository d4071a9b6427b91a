"""CLI: `patchpilot fleet INVENTORY`: patch the servers of an Ansible inventory in one run.

Every `patchpilot run` option applies to each server (inventory `patchpilot_*` variables
override it per host or group); the fleet options shape the rollout. The inventory and every
host's options are checked before any server is touched. stdout carries the live lines (each
prefixed by its server), the summary table and, last, the fleet result JSON on one line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from patchpilot.cli import run as run_cmd
from patchpilot.cli.fleet_view import FleetView, describe
from patchpilot.cli.help import FLEET_EXAMPLES, GroupedCommand, with_panels
from patchpilot.cli.human import Human, JsonFlag, VerboseFlag
from patchpilot.cli.logfile import setup_connector_log
from patchpilot.cli.options import with_run_options
from patchpilot.cli.outputs import MetricsFile, ReportFile, warn
from patchpilot.cli.signals import until_signal
from patchpilot.cli.state import StateUrl, open_cli_store
from patchpilot.connector import (
    EXIT_FLEET_FAILED,
    EXIT_WINDOW_CLOSED,
    FleetJob,
    FleetOptions,
    FleetResult,
    HostEntry,
    JobEnd,
    JobFiles,
    Order,
    PreparedFleet,
    RunOptions,
    Store,
    check_fleet_run_id,
    default_state_dir,
    list_groups,
    new_fleet_run_id,
    order_hosts,
    parse_serial,
    pause_path,
    posix_status,
    prepare_fleet,
    run_fleet_job,
    run_job,
    set_paused,
)
from patchpilot.errors import Cancelled

__all__ = ["host_list", "register"]


async def show_fleet_job(
    job: FleetJob,
    prepared: PreparedFleet,
    store: Store,
    console: Console,
    *,
    log_format: str = "text",
    person: Human | None = None,
) -> JobEnd[FleetResult]:
    """Run the checked job under signal handling with its view; print the summary.

    person: the terminal view's flags when a person reads stdout (milestones, live table;
    the recap follows); else the job output (FleetView) and its summary table.
    """
    hosts = [h.name for h in prepared.hosts]
    if person is not None:
        width = max(len(h) for h in ["fleet", *hosts])
        with person.view(hosts, lambda e: f"{e.target:<{width}} | {describe(e)}") as human:
            work = run_fleet_job(
                job, store=store, on_server=human.on_server, on_fleet=human.on_fleet,
                prepared=prepared,
            )  # fmt: skip
            return JobEnd.of_fleet(job.run_id, await _until_signal(work, job.run_id))
    view = FleetView(console, hosts, log_format=log_format)
    work = run_fleet_job(
        job, store=store, on_server=view.on_server, on_fleet=view.on_fleet, prepared=prepared
    )
    result = await _until_signal(work, job.run_id)
    if log_format == "text":
        console.print(view.summary(result))
    return JobEnd.of_fleet(job.run_id, result)


async def _until_signal(rollout: Coroutine[Any, Any, FleetResult], run_id: str) -> FleetResult:
    """Await the rollout; SIGTERM/SIGINT stop the waiting (each server's state is stored)."""
    try:
        return await until_signal(rollout)
    except asyncio.CancelledError:
        raise Cancelled(f"fleet cancelled; `--run-id {run_id}` resumes every server") from None


def host_list(hosts: list[HostEntry], rollout: FleetOptions) -> list[str]:
    """Return `--list-hosts` output, as `ansible PATTERN --list-hosts` prints it."""
    ordered = order_hosts(hosts, rollout.order, rollout.seed)
    return [f"  hosts ({len(ordered)}):", *(f"    {h.name}" for h in ordered)]


def group_list(prepared: PreparedFleet) -> list[str]:
    """Return the plan groups section `--list-hosts` prints after Ansible's host list."""
    lines = asyncio.run(list_groups(prepared))
    return [f"  plan groups ({len(lines)}):", *(f"    {line}" for line in lines)]


def register(app: typer.Typer) -> None:
    """Add `fleet` to app, with every option of `run` plus the rollout options."""

    @app.command(
        help="Patch the servers of Ansible inventories (YAML, INI, JSON, scripts) in one run.",
        cls=GroupedCommand,
        epilog=FLEET_EXAMPLES,
    )
    @with_panels
    @with_run_options
    def fleet(
        options: RunOptions,
        inventory: Annotated[
            Path | None,
            typer.Argument(help="Ansible inventory: YAML, INI, JSON or an executable script."),
        ] = None,
        more_inventory: Annotated[
            list[Path] | None,
            typer.Option("--inventory", "-i", help="Another inventory to merge (repeat)."),
        ] = None,
        inventory_command: run_cmd.InventoryCommand = None,
        list_hosts: Annotated[
            bool,
            typer.Option(
                help="Print the selected servers in rollout order, then their plan groups "
                "(read from each server); change nothing."
            ),
        ] = False,
        limit: Annotated[
            str | None,
            typer.Option("--limit", "-l", help="Ansible host pattern (web:&prod:!web03)."),
        ] = None,
        concurrency: Annotated[int, typer.Option(help="Servers worked on at once.", min=1)] = 50,
        serial: Annotated[
            str | None, typer.Option(help="Batch sizes: N, N% or a list (1,5,25%).")
        ] = None,
        max_fail_percent: Annotated[
            float | None,
            typer.Option(help="Stop starting servers once more than P% of a batch failed."),
        ] = None,
        max_fail: Annotated[
            int | None,
            typer.Option(
                help="Stop starting servers once N have failed, counted over every batch.",
                min=1,
            ),
        ] = None,
        pause_timeout: Annotated[
            float,
            typer.Option(
                help="Seconds a pause (patchpilot pause) may last; then no new server (86).",
            ),
        ] = 4 * 3600.0,
        order: Annotated[Order, typer.Option(help="Order servers start in.")] = Order.INVENTORY,
        plan_from: Annotated[
            str | None,
            typer.Option(
                help="Scan this host first; every server of its package family installs its "
                "plan (comma-separate one host per family: apt, rpm)."
            ),
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Seed for --order shuffle.")] = None,
        state_dir: run_cmd.StateDir = None,
        state_url: StateUrl = None,
        result_file: Annotated[
            Path | None, typer.Option(help="Write the fleet result JSON here too.")
        ] = None,
        log_format: Annotated[
            Literal["text", "json"], typer.Option(help="Job output lines.")
        ] = "text",
        report: ReportFile = None,
        metrics_file: MetricsFile = None,
        json_output: JsonFlag = False,
        verbose: VerboseFlag = False,
    ) -> None:
        files = JobFiles(result_file, report, metrics_file)
        files.check()
        fleet_run_id = check_fleet_run_id(options.run_id or new_fleet_run_id())
        state = default_state_dir() if state_dir is None else state_dir
        rollout = FleetOptions(
            concurrency=concurrency,
            serial=parse_serial(serial) if serial else (),
            max_fail_percent=max_fail_percent,
            order=order,
            seed=seed,
            failure_code=-1 if options.exit_codes == "wsus" else EXIT_FLEET_FAILED,
            deadline=options.deadline_at,
            cutoff=options.cutoff_seconds,
            window_code=-1 if options.exit_codes == "wsus" else EXIT_WINDOW_CLOSED,
            max_fail=max_fail,
            pause_file=pause_path(state, fleet_run_id),
            pause_timeout=pause_timeout,
        )
        sources = tuple(p for p in (inventory, *(more_inventory or ())) if p is not None)
        commands = tuple(inventory_command or ())
        job = FleetJob(sources, limit, rollout, plan_from, fleet_run_id, options, commands)
        prepared = prepare_fleet(job)
        if list_hosts:
            print("\n".join([*host_list(prepared.hosts, rollout), *group_list(prepared)]))
            raise typer.Exit(0)
        console = Console(highlight=False, soft_wrap=True)
        flags = Human(json_output=json_output, verbose=verbose)
        person = flags if flags.is_for_person(log_format) else None

        def show(end: JobEnd[FleetResult]) -> None:
            line = json.dumps(end.document, separators=(",", ":"))
            if person is None:
                sys.stdout.write(line + "\n")
                return
            written = {"result file": result_file, "report": report, "metrics": metrics_file}
            person.finish_fleet(end.result, line, written, state)

        store = open_cli_store(state_dir, state_url)
        setup_connector_log(store)
        try:
            work = show_fleet_job(
                job, prepared, store, console, log_format=log_format, person=person
            )
            end = asyncio.run(
                run_job(work, options, store, files=files, on_warning=warn, on_end=show)
            )
        finally:
            store.close()
        raise typer.Exit(posix_status(end.exit_code))

    @app.command(
        help="Pause a fleet run: servers in flight finish, no other starts (again: resume)."
    )
    def pause(
        fleet_run_id: Annotated[str, typer.Argument(help="The fleet's run id.")],
        state_dir: run_cmd.StateDir = None,
    ) -> None:
        _say_paused(fleet_run_id, state_dir, None)

    @app.command(help="Resume a paused fleet run: servers start again.")
    def resume(
        fleet_run_id: Annotated[str, typer.Argument(help="The fleet's run id.")],
        state_dir: run_cmd.StateDir = None,
    ) -> None:
        _say_paused(fleet_run_id, state_dir, False)


def _say_paused(fleet_run_id: str, state_dir: Path | None, paused: bool | None) -> None:
    """Pause, resume or toggle a fleet run through its pause file, and say which."""
    folder = default_state_dir() if state_dir is None else state_dir
    path = pause_path(folder, check_fleet_run_id(fleet_run_id))
    if set_paused(folder, fleet_run_id, paused):
        print(
            f"fleet {fleet_run_id} paused ({path}): servers in flight finish, no other starts; "
            f"`patchpilot resume {fleet_run_id}` goes on"
        )
    else:
        print(f"fleet {fleet_run_id} resumed: servers start again")
