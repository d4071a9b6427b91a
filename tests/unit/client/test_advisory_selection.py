"""Selecting by updateinfo: the job spec's severities/advisories/cves and the client's filter."""

import json
from typing import List

import pytest

from patchpilot.client.backends.base import Update
from patchpilot.client.jobspec import JobSpecError, Selection, parse_job_spec
from patchpilot.client.selection import select_updates

SPEC = {
    "spec_version": 1,
    "run_id": "r1",
    "round": 1,
    "action": "install",
    "reboot": "never",
    "secret": "0" * 64,
}
UPDATES = [
    Update("kernel", "", "1-1", "2-1", advisory="RHSA-1", severity="Critical", cves=("CVE-1",)),
    Update("curl", "", "1-1", "2-1", advisory="RHSA-2", severity="Important", cves=("CVE-2",)),
    Update("vim", "", "1-1", "2-1", advisory="RHBA-3", severity="Low"),
    Update("plain", "", "1-1", "2-1"),
]


def _ids(selection: Selection) -> List[str]:
    return [u.id for u in select_updates(UPDATES, selection, lambda a, b: False).selected]


def test_job_spec_carries_the_selection() -> None:
    doc = {**SPEC, "selection": {"severities": ["critical"], "advisories": ["RH*"], "cves": []}}
    spec = parse_job_spec(json.dumps(doc))
    assert spec.selection.severities == ("critical",)
    assert spec.selection.advisories == ("RH*",) and spec.selection.by_advisory
    with pytest.raises(JobSpecError, match="severities"):
        parse_job_spec(json.dumps({**SPEC, "selection": {"severities": ["urgent"]}}))


def test_filters() -> None:
    assert _ids(Selection(severities=("critical", "important"))) == ["curl", "kernel"]
    assert _ids(Selection(advisories=("RHBA-*",))) == ["vim"]
    assert _ids(Selection(cves=("CVE-2",))) == ["curl"]
    assert _ids(Selection()) == ["curl", "kernel", "plain", "vim"]
    assert _ids(Selection(severities=("critical",), cves=("CVE-2",))) == []


@pytest.mark.host
def test_run_options() -> None:
    from patchpilot.connector.options import RunOptions

    options = RunOptions(severity=("critical",), cve=("CVE-1",))
    assert options.advisory_selection() == {"severities": ["critical"], "cves": ["CVE-1"]}
    assert RunOptions().advisory_selection() == {}
    with pytest.raises(ValueError, match="apt has no advisory metadata"):
        RunOptions(backend="apt-cli", advisory=("RHSA-1",))
    with pytest.raises(ValueError):
        RunOptions(severity=("urgent",))  # type: ignore[arg-type]


def test_windows_updates_carry_msrc_severity_and_cves() -> None:
    from patchpilot.client.backends.wua import to_update
    from patchpilot.client.backends.wua_com import WuaUpdate

    fix = WuaUpdate("guid-1", "2026-01 Cumulative Update", kb_ids=("5031356",),
                    msrc_severity="Critical", cve_ids=("CVE-2026-21001",))  # fmt: skip
    update = to_update(fix, "wsus")
    assert (update.advisory, update.severity, update.cves) == (
        "KB5031356",
        "Critical",
        ("CVE-2026-21001",),
    )
    kept = select_updates([update], Selection(severities=("critical",)), lambda a, b: False)
    assert [u.id for u in kept.selected] == [update.id]


def test_min_age_selection_in_the_job_spec() -> None:
    doc = {**SPEC, "selection": {"min_age": 7, "min_age_undated": "include"}}
    selection = parse_job_spec(json.dumps(doc)).selection
    assert (selection.min_age, selection.min_age_undated) == (7, "include")
    assert parse_job_spec(json.dumps(SPEC)).selection.min_age is None
    for bad in ({"min_age": -1}, {"min_age": "7"}, {"min_age": True}, {"min_age_undated": "no"}):
        with pytest.raises(JobSpecError, match="min_age"):
            parse_job_spec(json.dumps({**SPEC, "selection": bad}))


def test_min_age_and_holds_are_reported_never_planned() -> None:
    """Issue 25: an update too young for --min-age is `skipped` with the day it becomes
    eligible; an undated one follows --min-age-undated; a locked one is `held`. None of them
    is selected, so no report lists them as pending; a held one keeps its version in the
    frozen plan, as a ceiling for a fleet's servers that do not hold it."""
    import datetime

    updates = [
        Update("young", "", "1-1", "2-1", advisory="A-1", issued="2026-12-05 00:00:00"),
        Update("old", "", "1-1", "2-1", advisory="A-2", issued="2026-01-15 00:00:00"),
        Update("undated", "", "1-1", "2-1"),
        Update("locked", "", "1-1", "2-1", categories=("package", "held"), issued=""),
    ]
    today = datetime.date(2026, 12, 7)
    plan = select_updates(
        updates, Selection(min_age=7), lambda a, b: False, "held back: dnf versionlock", today
    )
    assert [u.id for u in plan.selected] == ["old"]
    assert plan.frozen() == {"old": "2-1", "locked": "2-1"}  # a ceiling for other servers
    reported = {r.id: (r.status, r.message) for r in plan.reported}
    assert reported == {
        "locked": ("held", "held back: dnf versionlock"),
        "undated": (
            "skipped",
            "no advisory dates it, so its age is unknown (--min-age-undated exclude)",
        ),
        "young": (
            "skipped",
            "issued 2026-12-05, 2 day(s) ago: younger than --min-age 7; eligible from 2026-12-12",
        ),
    }
    assert plan.to_fields()["held"] == ["locked"]
    include = select_updates(
        updates, Selection(min_age=7, min_age_undated="include"), lambda a, b: False, today=today
    )
    assert [u.id for u in include.selected] == ["old", "undated"]
    held_only = select_updates(updates, Selection(), lambda a, b: False, today=today)
    assert [r.id for r in held_only.reported] == ["locked"]
    excluded = select_updates(updates, Selection(exclude=("locked",)), lambda a, b: False)
    assert [r.id for r in excluded.reported] == []  # the exclude list wins: not reported
