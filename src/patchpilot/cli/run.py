"""CLI: `patchpilot run|check TARGET`, `status [RUN_ID]`, `result RUN_ID`, `cancel RUN_ID`.

`options.with_run_options` adds every option that shapes a run (derived from RunOptions), so
`fleet` offers exactly the same ones. SIGTERM/SIGINT stop the waiting, never the client on
the target: the result file is written with the cancelled status and its exit code.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from patchpilot.cli.help import RUN_EXAMPLES, GroupedCommand, with_panels
from patchpilot.cli.human import Human, JsonFlag, VerboseFlag
from patchpilot.cli.logfile import setup_connector_log
from patchpilot.cli.options import with_run_options
from patchpilot.cli.outputs import MetricsFile, ReportFile, warn
from patchpilot.cli.pidfile import live_pid, write_pid_file
from patchpilot.cli.render import EventRenderer
from patchpilot.cli.signals import until_signal
from patchpilot.cli.state import StateUrl, open_cli_store
from patchpilot.connector import (
    EventSink,
    JobEnd,
    JobFiles,
    RunOptions,
    RunResult,
    RunStatus,
    Store,
    TargetSpec,
    load_inventories,
    new_run_id,
    posix_status,
    printable,
    resolve_target,
    run_job,
    run_target,
)
from patchpilot.errors import Cancelled, ConfigurationError, StateError

__all__ = ["register"]

Opt = typer.Option


async def _run_until_signal(
    target: TargetSpec, options: RunOptions, store: Store, on_event: EventSink
) -> RunResult:
    """Run; on SIGTERM/SIGINT stop waiting and return the stored cancelled result."""
    try:
        return await until_signal(run_target(target, options, store=store, on_event=on_event))
    except asyncio.CancelledError:
        stored = store.result(options.run_id or "")
        if stored is None:
            raise Cancelled("cancelled before the run started") from None
        return RunResult.from_dict(stored)


def _pid_file(store: Store, run_id: str) -> Path:
    return store.folder / "runs" / f"{run_id}.pid"


def _print_result(result: RunResult, renderer: EventRenderer) -> None:
    if renderer.log_format == "text":
        for line in renderer.summary(result):
            print(line)
    sys.stdout.write(result.to_json_line() + "\n")
    sys.stdout.flush()


def run_command(
    options: RunOptions,
    target: str,
    inventory: Path | list[Path] | None,
    state_dir: Path | None,
    result_file: Path | None,
    log_format: str,
    *,
    inventory_command: list[str] | None = None,
    report: Path | None = None,
    metrics_file: Path | None = None,
    output: Human | None = None,
    state_url: str | None = None,
) -> int:
    """Do `patchpilot run`; return the process exit status."""
    files = JobFiles(result_file, report, metrics_file)
    files.check()
    paths = inventory if isinstance(inventory, list) else [inventory] if inventory else []
    commands = inventory_command or []
    spec = resolve_target(target, load_inventories(paths, commands) if paths or commands else None)
    options = options.model_copy(update={"run_id": options.run_id or new_run_id(spec)})
    store = open_cli_store(state_dir, state_url)
    setup_connector_log(store)
    renderer = EventRenderer(sys.stdout, log_format=log_format)
    human = output if output is not None and output.is_for_person(log_format) else None
    pid_file = _pid_file(store, options.run_id or "")
    pid_file.parent.mkdir(mode=0o700, exist_ok=True)
    write_pid_file(pid_file)

    async def work() -> JobEnd[RunResult]:
        try:
            if human is None:
                return JobEnd.of_run(await _run_until_signal(spec, options, store, renderer))
            with human.view([spec.name]) as view:
                return JobEnd.of_run(await _run_until_signal(spec, options, store, view.on_server))
        finally:
            pid_file.unlink(missing_ok=True)

    def show(end: JobEnd[RunResult]) -> None:
        if human is None:
            _print_result(end.result, renderer)
            return
        written = {"result file": result_file, "report": report, "metrics": metrics_file}
        human.finish_run(end.result, written, store.folder)

    try:
        end = asyncio.run(
            run_job(work(), options, store, files=files, on_warning=warn, on_end=show)
        )
    finally:
        store.close()
    return posix_status(end.exit_code)


StateDir = Annotated[
    Path | None,
    Opt(
        help="The state store's folder (default "
        "~/.local/state/patchpilot, root: "
        "/var/lib/patchpilot-connector)."
    ),
]


InventoryCommand = Annotated[
    list[str] | None,
    Opt(help="A command printing inventory JSON (Ansible's script protocol), e.g. a CMDB export."),
]


def register(app: typer.Typer) -> None:
    """Add run, status, result and cancel to app."""

    def one_target(
        options: RunOptions,
        target: Annotated[
            str,
            typer.Argument(help="host, user@host[:port], or an inventory name (with --inventory)."),
        ],
        inventory: Annotated[
            list[Path] | None,
            Opt(
                "--inventory",
                "-i",
                help="Ansible inventory: YAML, INI, JSON or a script (repeat to merge).",
            ),
        ] = None,
        inventory_command: InventoryCommand = None,
        state_dir: StateDir = None,
        result_file: Annotated[Path | None, Opt(help="Write the result JSON here.")] = None,
        log_format: Annotated[Literal["text", "json"], Opt(help="Job output lines.")] = "text",
        report: ReportFile = None,
        metrics_file: MetricsFile = None,
        json_output: JsonFlag = False,
        verbose: VerboseFlag = False,
        state_url: StateUrl = None,
    ) -> None:
        code = run_command(
            options, target, inventory, state_dir, result_file, log_format,
            report=report, metrics_file=metrics_file, state_url=state_url,
            inventory_command=inventory_command,
            output=Human(json_output=json_output, verbose=verbose),
        )  # fmt: skip
        raise typer.Exit(code)

    app.command(
        name="run",
        help="Patch one server end to end (docs/usage.md).",
        cls=GroupedCommand,
        epilog=RUN_EXAMPLES,
    )(with_panels(with_run_options(one_target)))
    app.command(
        name="check",
        help="Report what `run` would apply to one server; change nothing.",
        cls=GroupedCommand,
        epilog=RUN_EXAMPLES,
    )(with_panels(with_run_options(one_target, {"check_only": True})))

    @app.command(help="Show recent runs, or one run's rounds and journal.")
    def status(
        run_id: Annotated[str | None, typer.Argument(help="A run id.")] = None,
        state_dir: StateDir = None,
        state_url: StateUrl = None,
    ) -> None:
        store = open_cli_store(state_dir, state_url)
        lines = status_lines(store, run_id)
        store.close()
        print("\n".join(printable(line) for line in lines))

    @app.command(help="Print a finished run's result JSON.")
    def result(
        run_id: Annotated[str, typer.Argument(help="A run id.")],
        state_dir: StateDir = None,
        state_url: StateUrl = None,
    ) -> None:
        store = open_cli_store(state_dir, state_url)
        document = store.result(run_id)
        found = store.run(run_id)
        store.close()
        if found is None:
            raise ConfigurationError(f"no run {run_id!r} in {store.location}")
        if document is None:
            raise StateError(f"run {run_id} has no result yet (it is still running)")
        print(json.dumps(document, indent=2))

    @app.command(help="Stop a run's connector (the client on the target finishes its round).")
    def cancel(
        run_id: Annotated[str, typer.Argument(help="A run id.")],
        state_dir: StateDir = None,
        state_url: StateUrl = None,
    ) -> None:
        store = open_cli_store(state_dir, state_url)
        message = cancel_run(store, run_id, _pid_file(store, run_id))
        store.close()
        print(message)


def status_lines(store: Store, run_id: str | None) -> list[str]:
    """Return `status` output: a table of runs, or one run with its rounds and journal."""
    from patchpilot.connector import format_line

    if run_id is None:
        return [
            f"{r.run_id}  {r.target}  {r.mode}  {r.status}  exit={r.exit_code}  "
            f"{r.started} → {r.finished or '…'}"
            for r in store.runs()
        ]
    found = store.run(run_id)
    if found is None:
        raise ConfigurationError(f"no run {run_id!r} in {store.location}")
    lines = [
        f"run {found.run_id} target={found.target} mode={found.mode} "
        f"status={found.status} exit={found.exit_code}"
    ]
    lines += [
        f"round {r.round}: {r.phase} task={r.launcher}:{r.task_id} "
        f"boot {r.boot_id_before} → {r.boot_id_after or '-'}"
        for r in store.rounds(run_id)
    ]
    for record in store.iter_records(run_id):
        lines.append(
            format_line(
                record.get("ts", ""),
                record.get("level", "info"),
                found.target,
                None,
                record.get("event", "?"),
                record.get("fields") or {},
            )
        )
    return lines


def cancel_run(store: Store, run_id: str, pid_file: Path) -> str:
    """Signal the run's connector if it is alive; else record the run as cancelled."""
    from patchpilot.connector import cancel_stored_run

    found = store.run(run_id)
    if found is None:
        raise ConfigurationError(f"no run {run_id!r} in {store.location}")
    if found.run_status is not RunStatus.RUNNING:
        return f"run {run_id} already finished: {found.status}"
    pid = live_pid(pid_file)  # None too when the pid now belongs to another process
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
            return f"sent SIGTERM to the connector of run {run_id} (pid {pid})"
        except OSError:
            pass
    cancel_stored_run(store, run_id)
    return f"run {run_id} recorded as cancelled (no connector was running it)"
