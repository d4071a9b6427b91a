"""Selecting by updateinfo: the job spec's severities/advisories/cves and the client's filter."""

from __future__ import annotations

import json

import pytest

from patchpilot.client.backends.base import Update
from patchpilot.client.jobspec import JobSpecError, Selection, parse_job_spec
from patchpilot.client.selection import select_updates
from patchpilot.connector.options import RunOptions

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


def _ids(selection: Selection) -> list[str]:
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


def test_run_options() -> None:
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
