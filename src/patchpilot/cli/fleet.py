"""CLI: `patchpilot fleet INVENTORY`: patch the servers of an Ansible inventory in one run.

Every `patchpilot run` option applies to each server (inventory `patchpilot_*` variables
override it per host or group); the fleet options shape the rollout. The inventory and every
host's options are checked before any server is touched. stdout carries the live lines (each
prefixed by its server), the summary table and, last, the fleet result JSON on one line.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from patchpilot.cli import run as run_cmd
from patchpilot.cli.fleet_view import FleetView
from patchpilot.cli.logfile import setup_connector_log
from patchpilot.connector.exitcodes import posix_status
from patchpilot.connector.fleet import (
    EXIT_FLEET_FAILED,
    FleetOptions,
    FleetResult,
    Order,
    parse_serial,
    run_fleet,
)
from patchpilot.connector.fleet_connector import (
    all_host_options,
    check_fleet_run_id,
    freeze_plan,
    host_options,
    new_fleet_run_id,
    run_one_with,
)
from patchpilot.connector.inventory import HostEntry, Inventory, load_inventory
from patchpilot.connector.options import RunOptions
from patchpilot.connector.result import write_result
from patchpilot.connector.runner import run_target
from patchpilot.connector.store import Store
from patchpilot.errors import Cancelled, ConfigurationError

__all__ = ["FleetJob", "Prepared", "prepare", "register", "run_fleet_job", "select_hosts"]


@dataclass(frozen=True)
class FleetJob:
    """One `patchpilot fleet` invocation, parsed."""

    inventory: Path
    limit: str | None
    rollout: FleetOptions
    plan_from: str | None
    run_id: str
    options: RunOptions
    state_dir: Path | None
    result_file: Path | None
    log_format: str = "text"


def select_hosts(inventory: Inventory, limit: str | None) -> list[HostEntry]:
    """Return the hosts --limit selects, in inventory order (as Ansible runs a limited play)."""
    if limit is None:
        return list(inventory.hosts)
    chosen = {h.name for h in inventory.select(limit)}
    hosts = [h for h in inventory.hosts if h.name in chosen]
    if not hosts:
        raise ConfigurationError(f"--limit {limit!r} matches no host of {inventory.path}")
    return hosts


@dataclass(frozen=True)
class Prepared:
    """What a fleet job will do, all checked before any server is touched."""

    hosts: list[HostEntry]
    options: dict[str, RunOptions]
    plan_host: HostEntry
    plan_options: RunOptions


def prepare(job: FleetJob) -> Prepared:
    """Read the inventory, select the hosts, check every host's options; ConfigurationError."""
    inventory = load_inventory(job.inventory)
    hosts = select_hosts(inventory, job.limit)
    plan_host = inventory.host(job.plan_from) if job.plan_from else hosts[0]
    plan_options = host_options(job.options, plan_host)
    return Prepared(hosts, all_host_options(job.options, hosts), plan_host, plan_options)


async def run_fleet_job(job: FleetJob, console: Console, *, is_live: bool) -> FleetResult:
    """Prepare the job, then roll it out under signal handling; print the summary."""
    prepared = prepare(job)
    store = Store.open(job.state_dir)
    setup_connector_log(store)
    hosts = [h.name for h in prepared.hosts]
    try:
        with FleetView(console, hosts, is_live=is_live, log_format=job.log_format) as view:
            result = await _until_signal(_roll_out(job, prepared, store, view), job.run_id)
        if job.log_format == "text":
            console.print(view.summary(result))
    finally:
        store.close()
    return result


async def _roll_out(
    job: FleetJob, prepared: Prepared, store: Store, view: FleetView
) -> FleetResult:
    """Freeze the plan on the plan host, then run every host through run_target."""
    plan = await freeze_plan(
        run_target,
        prepared.plan_host,
        prepared.plan_options,
        fleet_run_id=job.run_id,
        store=store,
        on_event=view.on_server,
    )
    run_one = run_one_with(
        run_target,
        options=prepared.options,
        plan=plan,
        fleet_run_id=job.run_id,
        store=store,
        on_event=view.on_server,
    )
    return await run_fleet(prepared.hosts, run_one, job.rollout, on_event=view.on_fleet)


async def _until_signal(rollout: Coroutine[Any, Any, FleetResult], run_id: str) -> FleetResult:
    """Await the rollout; SIGTERM/SIGINT stop the waiting (each server's state is stored)."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(rollout)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise Cancelled(f"fleet cancelled; `--run-id {run_id}` resumes every server") from None
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def register(app: typer.Typer) -> None:
    """Add `fleet` to app, with every option of `run` plus the rollout options."""

    @app.command(help="Patch the servers of an Ansible inventory (YAML or INI) in one run.")
    @run_cmd.with_run_options
    def fleet(
        options: RunOptions,
        inventory: Annotated[Path, typer.Argument(help="Ansible inventory, YAML or INI.")],
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
        order: Annotated[Order, typer.Option(help="Order servers start in.")] = Order.INVENTORY,
        plan_from: Annotated[
            str | None,
            typer.Option(help="Scan this host first; every server installs its plan."),
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Seed for --order shuffle.")] = None,
        state_dir: run_cmd.StateDir = None,
        result_file: Annotated[
            Path | None, typer.Option(help="Write the fleet result JSON here too.")
        ] = None,
        log_format: Annotated[
            Literal["text", "json"], typer.Option(help="Job output lines.")
        ] = "text",
    ) -> None:
        rollout = FleetOptions(
            concurrency=concurrency,
            serial=parse_serial(serial) if serial else (),
            max_fail_percent=max_fail_percent,
            order=order,
            seed=seed,
            failure_code=-1 if options.exit_codes == "wsus" else EXIT_FLEET_FAILED,
        )
        fleet_run_id = check_fleet_run_id(options.run_id or new_fleet_run_id())
        job = FleetJob(
            inventory,
            limit,
            rollout,
            plan_from,
            fleet_run_id,
            options,
            state_dir,
            result_file,
            log_format,
        )
        console = Console(highlight=False, soft_wrap=True)
        result = asyncio.run(run_fleet_job(job, console, is_live=console.is_terminal))
        document = {"run_id": fleet_run_id, **result.to_dict()}
        if result_file is not None:
            write_result(document, result_file)
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        raise typer.Exit(posix_status(result.exit_code))
