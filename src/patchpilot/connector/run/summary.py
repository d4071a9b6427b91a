"""Turn a run's stored rounds and journal into its RunResult (pure over the store's contents)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from patchpilot.connector.events import utc_now
from patchpilot.connector.exitcodes import Outcome, Tally, native_code, wsus_code
from patchpilot.connector.options import RunOptions
from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.plan import REPORT_EVENTS, RoundReport, final_updates, outcome_of
from patchpilot.connector.run.change_record import merge_changes
from patchpilot.connector.run.interruption import interruptions
from patchpilot.connector.run.own_journal import HOOK_ROUND, settled_report, withheld_rounds
from patchpilot.connector.run.service_restarts import kept_warnings, merge_services
from patchpilot.connector.run_result import RebootRecord, RoundSummary, RunResult
from patchpilot.connector.store import RoundRow, RunRow, Store

__all__ = ["build_result", "round_report"]

_COUNTED = ("installed", "failed", "skipped", "held", "downloaded", "available")
_NOT_PLANNED = ("held", "skipped")  # results of updates a plan never lists: locked, too young


def _reboots(rows: list[RoundRow]) -> tuple[RebootRecord, ...]:
    return tuple(
        RebootRecord(
            r.round,
            r.boot_id_before or "",
            r.boot_id_after,
            r.reboot_requested_at or "",
            r.back_at or "",
            _seconds(r),
        )
        for r in rows
        if r.boot_id_after
    )


def _seconds(row: RoundRow) -> float:
    try:
        start = datetime.fromisoformat((row.reboot_requested_at or "").replace("Z", "+00:00"))
        end = datetime.fromisoformat((row.back_at or "").replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return round((end - start).total_seconds(), 3)


def _summaries(rows: list[RoundRow], reports: list[RoundReport]) -> tuple[RoundSummary, ...]:
    return tuple(
        RoundSummary(
            row.round,
            report.status,
            row.started or "",
            row.finished or "",
            row.launcher or "",
            row.task_id or "",
            report.count("installed"),
            report.count("failed"),
            row.boot_id_after is not None,
        )
        for row, report in zip(rows, reports, strict=True)
    )


def _changes(reports: list[RoundReport]) -> dict[str, Any]:
    """Return the run's change record, or {} when no round gave one."""
    said = [(r.round, r.changes) for r in reports if r.changes]
    return merge_changes(said) if said else {}


def _updates(
    action: str, reports: list[RoundReport], changes: dict[str, Any]
) -> list[dict[str, Any]]:
    if action == "scan":
        if not reports:
            return []
        last = reports[-1]
        available = [
            {
                "id": i,
                "status": "available",
                "version": last.offered.get(i, ""),
                **last.advisories.get(i, {}),
            }
            for i in last.selected
        ]
        reported = [
            {"id": r.id, "status": r.status, "version": r.version, "message": r.message}
            for r in last.results
            if r.status in _NOT_PLANNED
        ]
        return sorted(available + reported, key=lambda u: str(u["id"]))
    advisories = {k: v for report in reports for k, v in report.advisories.items()}
    before = {e["id"]: e["from"] for e in changes.get("upgraded", ())}
    return [
        {
            "id": r.id,
            "status": r.status,
            "version": r.version,
            **({"from_version": before[r.id]} if r.id in before else {}),
            "round": r.round,
            "message": r.message,
            "code": r.code,
            **advisories.get(r.id, {}),
        }
        for r in final_updates(reports)
    ]


def _warnings(store: Store, run_id: str, updates: list[dict[str, Any]]) -> list[str]:
    found = [f"{u['id']} is held back on the target" for u in updates if u["status"] == "held"]
    for _ in store.iter_records(run_id, events=("log.not_collected",)):
        found.append("the client's acknowledgement timed out; its journal stayed on disk")
    return found


def round_report(store: Store, run_id: str, round_no: int) -> RoundReport:
    """Return a round's report from the few records it reads (not the whole journal)."""
    return RoundReport.from_records(
        round_no, store.iter_records(run_id, round_no, events=REPORT_EVENTS)
    )


def build_result(
    store: Store,
    run: RunRow,
    options: RunOptions,
    *,
    warnings: list[str],
    failure: Outcome | None,
    error: str | None,
    phase: str | None,
) -> RunResult:
    """Return the run's result from what the store holds; failure overrides the outcome."""
    rows = [r for r in store.rounds(run.run_id) if r.phase.has_result or _is_interrupted(r)]
    reports = [_report(store, run.run_id, r) for r in rows]
    finished = [(row, report) for row, report in zip(rows, reports, strict=True)]
    finished = [(row, report) for row, report in finished if not _is_interrupted(row)]
    last = finished[-1][1] if finished else None
    own = store.records(run.run_id, HOOK_ROUND)  # the connector's records: hooks, health
    is_withheld = bool(last and finished[-1][0].round in withheld_rounds(own))
    is_pending = bool(
        options.action == "install"
        and last
        and last.reboot_required
        and (not last.will_reboot or is_withheld)
    )
    # the package database's word at the run's end, where it differs from the rounds'
    settled = settled_report(own, reports) if options.action == "install" else None
    said = [*reports, settled] if settled is not None else reports
    outcome = failure or outcome_of(options.action, said, is_reboot_pending=is_pending)
    changes = _changes(reports)
    updates = _updates(options.action, said, changes)
    pending = []
    if is_pending:
        why = "it was withheld" if is_withheld else "--reboot never"
        pending = [f"a reboot is required but {why}"]
    services = merge_services((r.round, r.services) for r in reports if r.services)
    all_warnings = (
        *warnings,
        *pending,
        *_warnings(store, run.run_id, updates),
        *kept_warnings(services, last.round if last else 0),
    )
    counts = {s: sum(1 for u in updates if u["status"] == s) for s in _COUNTED}
    reboots = _reboots(rows)
    applied = counts["installed"] + counts["downloaded"] + counts["available"]
    tally = Tally(options.check_only, applied, bool(reboots), bool(all_warnings))
    code = native_code(outcome) if options.exit_codes == "native" else wsus_code(outcome, tally)
    return RunResult(
        run_id=run.run_id,
        target=run.target,
        mode=run.mode,
        status=outcome.value,
        outcome=outcome,
        exit_code=code,
        exit_code_scheme=options.exit_codes,
        started=run.started,
        finished=utc_now(),
        rounds=_summaries(rows, reports),
        reboots=reboots,
        updates=tuple(updates),
        counts={**counts, "rounds": len(rows)},
        warnings=tuple(all_warnings),
        errors=(error,) if error else (),
        phase=phase,
        hooks=tuple(_hook_lines(own)),
        changes=changes,
        services=services,
        interruptions=tuple(i.to_dict() for i in interruptions(own)),
    )


def _is_interrupted(row: RoundRow) -> bool:
    return row.phase is RoundPhase.INTERRUPTED


def _report(store: Store, run_id: str, row: RoundRow) -> RoundReport:
    """Return a round's report; an interrupted round's results come with the next round."""
    report = round_report(store, run_id, row.round)
    if _is_interrupted(row):
        return replace(report, status="interrupted", results=())
    return report


def _hook_lines(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the result's `hooks`: every hook and failed health check, with its output."""
    wanted = ("hook.done", "health.failed", "health.ok")
    return [
        {"event": r.get("event"), "ts": r.get("ts"), **(r.get("fields") or {})}
        for r in records
        if r.get("event") in wanted
    ]
