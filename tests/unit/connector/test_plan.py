"""Round logic: reports from records, the frozen plan, loop detection, outcomes."""

from __future__ import annotations

from connector_fakes import final, record

from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.plan import (
    RoundReport,
    UpdateResult,
    extend_plan,
    final_updates,
    find_loops,
    found_installed,
    outcome_of,
    should_continue,
)

R1 = RoundReport.from_records(
    1,
    [
        record(1, "plan.selected", selected=["a", "b"], plan={"a": "2", "b": "1"}),
        final(
            2,
            will_reboot=True,
            updates=[{"id": "a", "candidate_version": "2"}],
            results=[
                {"id": "a", "status": "installed", "version": "2"},
                {"id": "b", "status": "failed", "message": "x"},
            ],
        ),
    ],
)


def test_report_from_records() -> None:
    assert R1.status == "success" and R1.will_reboot and R1.selected == ("a", "b")
    assert R1.plan == {"a": "2", "b": "1"} and R1.offered == {"a": "2"}
    assert R1.count("installed") == 1 and R1.results[1].message == "x"


def test_missing_final_record_reads_as_error() -> None:
    assert RoundReport.from_records(1, [record(1, "run.started")]).status == "error"


def test_frozen_plan_bounds_known_ids_and_admits_new_ones() -> None:
    assert extend_plan({"a": "2"}, {"a": "3", "stage2": "1"}) == {"a": "2", "stage2": "1"}


def test_loop_detection() -> None:
    assert find_loops([R1], {"a": "2", "c": "1"}) == ["a"]
    assert find_loops([R1], {"a": "3"}) == []


def test_continue_only_after_a_reboot_in_install_mode() -> None:
    assert should_continue(R1, action="install", is_rebooted=True)
    assert not should_continue(R1, action="install", is_rebooted=False)
    assert not should_continue(R1, action="scan", is_rebooted=True)


def test_final_updates_installed_wins() -> None:
    r2 = RoundReport(
        2,
        "success",
        (UpdateResult("b", "installed", "1", round=2), UpdateResult("a", "failed", round=2)),
    )
    assert [(u.id, u.status, u.round) for u in final_updates([R1, r2])] == [
        ("a", "installed", 1),
        ("b", "installed", 2),
    ]


def test_found_installed_settles_failed_and_unreported_updates_against_the_server() -> None:
    cut = RoundReport(2, "interrupted")  # a round cut short reports nothing
    scriptlet = RoundReport(
        3, "partial", (UpdateResult("s", "failed", "2", "%post", "scriptlet-failed"),)
    )
    planned = {"a": "2", "b": "1", "c": "5", "d": "4", "s": "2"}
    versions = {"a": "2", "b": "1", "c": "5", "d": "3", "s": "2"}
    found = found_installed([R1, cut, scriptlet], planned, versions, 4)
    # a: installed already; b: failed in round 1, at its planned version now (a later repair
    # finished it); c: never reported (cut); d: still old; s: rpm keeps a failed scriptlet's
    assert [(u.id, u.status, u.version, u.round) for u in found] == [
        ("b", "installed", "1", 4),
        ("c", "installed", "5", 4),
    ]
    assert found[0].message.endswith("round 1 had said failed: x")
    assert found[1].message.startswith("found installed at the run's end")
    assert outcome_of("install", [R1, RoundReport(4, "settled", tuple(found))],
                      is_reboot_pending=False) is Outcome.SUCCESS  # fmt: skip


def test_outcomes() -> None:
    assert outcome_of("install", [R1], is_reboot_pending=False) is Outcome.PARTIAL
    only_failed = RoundReport(1, "failed", (UpdateResult("b", "failed"),))
    assert outcome_of("install", [only_failed], is_reboot_pending=False) is Outcome.ALL_FAILED
    ok = RoundReport(1, "success", (UpdateResult("a", "installed"),))
    assert outcome_of("install", [ok], is_reboot_pending=True) is Outcome.REBOOT_PENDING
    assert outcome_of("scan", [R1], is_reboot_pending=False) is Outcome.UPDATES_AVAILABLE
    assert outcome_of("scan", [RoundReport(1, "nothing")], is_reboot_pending=False) is (
        Outcome.SUCCESS
    )
