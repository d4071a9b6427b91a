"""CSV: one row per server and update, reading back to the JSON's counts."""

from __future__ import annotations

import copy
import csv
import io
from collections import Counter

import pytest
from report_samples import DOCUMENT, FORMULA, WEB_RECORDS, WEB_ROUNDS, fleet_report

from patchpilot.connector.reports import render
from patchpilot.connector.reports.csv import COLUMNS
from patchpilot.connector.reports.model import (
    Report,
    ServerInput,
    ServerReport,
    UpdateRow,
    build_report,
)


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render(fleet_report(), "csv"))))


def test_rows_per_server_and_update_match_the_json_counts() -> None:
    rows = _rows()
    assert list(rows[0]) == list(COLUMNS)
    servers = [s for s in DOCUMENT["servers"]]
    updates = [u for s in servers if s["result"] for u in s["result"]["updates"]]
    assert len(rows) == len(updates) + 1  # db-3 (never started) has one row, no update
    json_counts = Counter(u["status"] for u in updates)
    assert Counter(r["update_status"] for r in rows if r["update"]) == json_counts
    assert Counter(r["server_status"] for r in {r["host"]: r for r in rows}.values()) == Counter(
        s["status"] for s in servers
    )
    web = [r for r in rows if r["host"] == "web-1"]
    assert {r["reboots"] for r in web} == {"1"} and web[0]["duration_seconds"] == "100.0"


def test_spreadsheet_formulas_from_targets_are_defused() -> None:
    (row,) = [r for r in _rows() if r["update"] == "lab-formula"]
    assert row["message"] == "'" + FORMULA


def _text(cells: list[str]) -> str:
    host, message = cells
    update = UpdateRow(id="u", status="failed", message=message)
    report = Report("r1", "run", "install", -1, (ServerReport(host, "failed", exit_code=-1,
                                                               updates=(update,)),))  # fmt: skip
    return render(report, "csv")


def test_every_cell_is_quoted_so_no_locale_splits_it() -> None:
    """A spreadsheet opened in a `;`-separated locale splits an unquoted `a;b` into two cells."""
    text = _text(["web;1", "plain"])
    header, row = text.splitlines()[:2]
    assert header.startswith('"run_id","host",')
    assert row.startswith('"r1","web;1","failed",') and '"plain"' in row
    assert '"-1"' not in row and ",-1," in row  # numbers stay numbers (exit code -1: WSUS)


@pytest.mark.parametrize(
    "formula",
    ["=1+1", " =1+1", "\u3000=1+1", "\n=1+1", "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff201",
     "-2+3", "@SUM(A1)", "\t=1", "\r=1", '"=1+1'],
)  # fmt: skip
def test_formula_starts_of_every_locale_are_neutralised(formula: str) -> None:
    (row,) = list(csv.DictReader(io.StringIO(_text(["web1", formula]))))
    assert row["message"] == "'" + formula


def test_the_change_record_adds_dependency_and_removal_rows() -> None:
    """Issue 24 (5): each update's from-version, and a row per dependency upgraded or newly
    installed and per package removed."""
    document = copy.deepcopy(DOCUMENT)
    web = document["servers"][0]["result"]
    web["updates"][0]["from_version"] = "1.0"
    web["changes"] = {
        "upgraded": [
            {"id": "lab-base-a", "from": "1.0", "to": "2.0", "round": 1},
            {"id": "libdep", "from": "0.1", "to": "0.2", "round": 1},
        ],
        "installed": [{"id": "lab-new", "version": "1.0", "round": 2}],
        "removed": [{"id": "lab-old", "version": "0.9", "round": 1}],
    }
    servers = [ServerInput(document["servers"][0], WEB_ROUNDS, WEB_RECORDS)]
    text = render(build_report("f1", "fleet", document, servers), "csv")
    rows = {r["update"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (rows["lab-base-a"]["installed_version"], rows["lab-base-a"]["version"]) == (
        "1.0",
        "2.0",
    )
    assert {k: rows["libdep"][k] for k in ("update_status", "installed_version", "version")} == {
        "update_status": "dependency",
        "installed_version": "0.1",
        "version": "0.2",
    }
    assert (rows["lab-new"]["update_status"], rows["lab-new"]["round"]) == ("dependency", "2")
    assert rows["lab-new"]["message"] == "newly installed as a dependency"
    assert (rows["lab-old"]["update_status"], rows["lab-old"]["installed_version"]) == (
        "removed",
        "0.9",
    )


def test_service_restarts_add_a_row_each_with_the_rounds_reboot_word() -> None:
    """Issue 24 (1): --reboot services' restarts, failures and units left alone are rows."""
    document = copy.deepcopy(DOCUMENT)
    document["servers"][0]["result"]["services"] = {
        "restarted": [{"unit": "lab-svcd.service", "round": 1, "old_pid": 10, "new_pid": 20}],
        "failed": [{"unit": "bad.service", "round": 1, "message": "not active"}],
        "kept": [{"unit": "dbus.service", "round": 1, "why": "kept by default"}],
        "reboot": [{"round": 1, "why": "no reboot needed"}, "junk"],
    }
    servers = [ServerInput(document["servers"][0], WEB_ROUNDS, WEB_RECORDS)]
    text = render(build_report("f1", "fleet", document, servers), "csv")
    rows = {r["update"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["lab-svcd.service"]["update_status"] == "restarted"
    assert rows["lab-svcd.service"]["message"] == "pid 10 -> 20; no reboot needed"
    assert rows["bad.service"]["update_status"] == "restart-failed"
    assert rows["bad.service"]["message"] == "not active; no reboot needed"
    assert rows["dbus.service"]["update_status"] == "not-restarted"
