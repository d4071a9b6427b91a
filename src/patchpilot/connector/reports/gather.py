"""Read what a report needs from the state store: a fleet run's or a single run's data.

A fleet run is found by its stored fleet document (saved when `patchpilot fleet` ends), or,
when the fleet connector never got that far, rebuilt from its servers' runs
(`<fleet run id>.<host>`); anything else is a single run, reported as a fleet of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from patchpilot.connector.reports.model import Report, ServerInput, build_report
from patchpilot.connector.store import RunRow, Store
from patchpilot.errors import ConfigurationError
from patchpilot.protocol.parts import join_parts

__all__ = ["SHOWN_EVENTS", "SHOWN_LEVELS", "gather"]

# What a report shows of a round's journal (reports/model.py): the scans and final records
# (with their parts), and warnings and errors. Only those are read, as the database streams
# them: a round may hold 64 MiB of package-manager output.
SHOWN_EVENTS = ("scan.done", "round.result", "scan.done.part", "round.result.part")
SHOWN_LEVELS = ("warning", "error")


def gather(store: Store, run_id: str) -> Report:
    """Return the report of run_id (a fleet or a single run); ConfigurationError if unknown."""
    fleet = store.fleet(run_id)
    if fleet is not None:
        return _fleet(store, run_id, fleet)
    run = store.run(run_id)
    if run is not None:
        result = store.result(run_id) or _unfinished(run)
        entry = {"host": run.target, "status": run.run_status, "exit_code": run.exit_code}
        document = {"exit_code": run.exit_code, "servers": [{**entry, "result": result}]}
        return _fleet(store, run_id, document, kind="run")
    servers = store.run_ids_under(f"{run_id}.")
    if not servers:
        raise ConfigurationError(f"no run or fleet run {run_id!r} in {store.location}")
    return _fleet(store, run_id, _rebuilt(store, run_id, servers))


def _unfinished(run: RunRow) -> dict[str, Any]:
    """Return what is known of a run without a result yet (still running, or killed)."""
    return {"run_id": run.run_id, "target": run.target, "mode": run.mode, "started": run.started}


def _rebuilt(store: Store, run_id: str, run_ids: list[str]) -> dict[str, Any]:
    """Return a fleet document from the servers' stored runs (no totals: not all are known)."""
    servers = []
    for server_run in run_ids:
        row = store.run(server_run)
        if row is None:
            continue
        result = store.result(server_run) or _unfinished(row)
        servers.append(
            {
                "host": row.target,
                "status": row.run_status,
                "exit_code": row.exit_code,
                "result": result,
            }
        )
    return {"run_id": run_id, "exit_code": None, "servers": servers}


def _shown(store: Store, run_id: str, round_no: int) -> Iterator[dict[str, Any]]:
    return store.iter_records(run_id, round_no, events=SHOWN_EVENTS, levels=SHOWN_LEVELS)


def _fleet(store: Store, run_id: str, document: dict[str, Any], kind: str = "fleet") -> Report:
    inputs = []
    for entry in document.get("servers") or ():
        server_run = str((entry.get("result") or {}).get("run_id") or "")
        rounds = store.rounds(server_run) if server_run else []
        records = [
            {**record, "round": row.round}
            for row in rounds
            for record in join_parts(_shown(store, server_run, row.round))
        ]
        inputs.append(ServerInput(entry, rounds, records))
    return build_report(run_id, kind, document, inputs)
