"""A target's journal and result reach every report format: wrong types and text no encoder
takes must build a report anyway (issue 21, finding 3: a warning whose `fields` is a list,
`categories: 5`, a lone surrogate crashed it)."""

from __future__ import annotations

from typing import Any

import pytest

from patchpilot.connector.reports import FORMATS, render, render_metrics
from patchpilot.connector.reports.model import ServerInput, build_report

SURROGATE = "dpkg said \ud800\udfff\ud800"


def _records() -> list[dict[str, Any]]:
    return [
        {"seq": 1, "event": "apt.warning", "level": "warning", "round": 1, "fields": ["a", "b"]},
        {"seq": 2, "event": "apt.error", "level": "error", "round": "two", "ts": 5,
         "fields": {"message": SURROGATE}},
        {"seq": 3, "event": "scan.done", "level": "info", "round": 1, "fields": {"updates": [
            {"id": "lab-a", "categories": 5, "title": SURROGATE, "severity": ["x"]},
            {"id": ["not", "text"], "categories": [1, None]}, "lab-b", None]}},
        {"seq": 4, "event": "round.result", "level": "info", "round": 1,
         "fields": {"updates": {"lab-a": 1}, "reboot_required": "yes", "will_reboot": []}},
        {"seq": 5, "event": "scan.done", "round": None, "fields": "not an object"},
    ]  # fmt: skip


def _entry() -> dict[str, Any]:
    result = {
        "run_id": "r1", "outcome": "failed", "mode": "install", "started": 7,
        "finished": "2026-11-30T02:00:00Z", "reboots": ["not", "items"],
        "updates": [{"id": "lab-a", "status": "failed", "round": "x", "message": SURROGATE},
                    "lab-b", {"id": None, "version": {"v": 1}}],
        "warnings": SURROGATE, "errors": [SURROGATE, 5], "error": SURROGATE,
    }  # fmt: skip
    return {"host": SURROGATE, "status": "failed", "exit_code": "72", "result": result}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_hostile_target_still_gets_a_report(fmt: str) -> None:
    inputs = [ServerInput(_entry(), (), _records()), ServerInput({"result": ["x"]})]
    report = build_report("r1", "fleet", {"exit_code": "1", "servers": 5}, inputs)
    for text in (render(report, fmt), render_metrics(report)):
        text.encode("utf-8")  # what write_text_atomic does: a surrogate raised here
    assert "lab-a" in render(report, fmt) or fmt == "json"  # json: the fleet document
