"""CSV: one row per server and update, reading back to the JSON's counts."""

from __future__ import annotations

import csv
import io
from collections import Counter

from report_samples import DOCUMENT, FORMULA, fleet_report

from patchpilot.connector.reports import render
from patchpilot.connector.reports.csv import COLUMNS


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
