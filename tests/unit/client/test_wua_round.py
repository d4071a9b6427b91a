"""The WUA backend through the client's round logic, against the scripted WUA fake."""

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

from patchpilot.client.backends.wua import WuaBackend, WuaOptions
from patchpilot.client.backends.wua_fake import FakeWindows, fake_adapter, load_scenario
from patchpilot.client.jobspec import parse_job_spec
from patchpilot.client.journal import Journal
from patchpilot.client.paths import RoundPaths
from patchpilot.client.round import Round

SCENARIOS = Path(__file__).parent / "wua_scenarios"


def play(tmp: Path, machine: FakeWindows, number: int, **spec: Any) -> Tuple[int, Dict[str, Any]]:
    """Run round `number` to its end (no connector: the ack times out at once)."""
    folder = tmp / "runs" / "w1" / f"round-{number}"
    folder.mkdir(parents=True)
    paths = RoundPaths(str(folder))
    doc = {
        "spec_version": 1,
        "run_id": "w1",
        "round": number,
        "action": "install",
        "reboot": "if-required",
        "ack_timeout": 0,
        "secret": "5c" * 32,
        **spec,
    }
    reboots: List[str] = []
    backend = WuaBackend(fake_adapter(machine), WuaOptions())
    round_ = Round(
        parse_job_spec(json.dumps(doc)),
        paths,
        Journal(paths.journal),
        backend,
        reboot=lambda: (reboots.append("x") or "shutdown.exe /r /t 0", []),
    )
    round_.REBOOT_GRACE = 0.1
    status = round_.run()
    records = Journal.snapshot(paths.journal).records()
    result = next(r for r in records if r["event"] == "round.result")["fields"]
    if reboots:
        machine.restart()
    return status, result


def test_servicing_stack_then_cumulative_in_two_rounds(tmp_path: Path) -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "servicing_stack_then_cumulative.json")))
    status, first = play(tmp_path, machine, 1)
    assert status == 0 and first["status"] == "success"
    assert [r["id"] for r in first["results"]] == ["KB5031364"]
    assert first["reboot_required"] and first["will_reboot"]
    assert machine.boots == 2
    status, second = play(tmp_path, machine, 2)
    assert [(r["id"], r["status"], r["code"]) for r in second["results"]] == [
        ("KB5031361", "installed", "Succeeded")
    ]
    assert second["will_reboot"]
    _, third = play(tmp_path, machine, 3)
    assert third["status"] == "nothing" and not third["will_reboot"]


def test_failing_update_makes_a_partial_round(tmp_path: Path) -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "failing_update.json")))
    status, result = play(tmp_path, machine, 1)
    assert status == 0 and result["status"] == "partial"
    failed = next(r for r in result["results"] if r["status"] == "failed")
    assert failed["code"] == "Failed 0x80070643"
    assert "fatal error during installation" in failed["message"]


def test_search_network_error_ends_the_round_with_an_error(tmp_path: Path) -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "search_network_error.json")))
    status, result = play(tmp_path, machine, 1)
    assert status == 4 and result["status"] == "error"
    assert "0x80072EE2" in result["message"] and "timed out" in result["message"]


def test_kb_exclude_and_security_only_through_the_selection(tmp_path: Path) -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "reboot_required.json")))
    selection = {"exclude": ["KB5031589"], "classification": "security"}
    _, result = play(tmp_path, machine, 1, selection=selection)
    assert result["status"] == "nothing" and result["results"] == []


def test_frozen_plan_pins_update_ids(tmp_path: Path) -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "reboot_required.json")))
    plan = {"KB2267602": "8d000000-0000-4000-8000-000000000002"}
    _, result = play(tmp_path, machine, 1, selection={"plan": plan})
    assert [r["id"] for r in result["results"]] == ["KB2267602"]
