"""The fleet command's pure parts: host selection, preparation, and what the view prints."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
from pathlib import Path

import pytest
from rich.console import Console

from patchpilot.cli.fleet import _until_signal
from patchpilot.cli.fleet_view import FleetView
from patchpilot.connector.events import PhaseStarted, RunFinished, RunStarted
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.fleet import (
    FleetEvent,
    FleetJob,
    FleetOptions,
    FleetResult,
    ServerOutcome,
)
from patchpilot.connector.fleet.job import prepare_fleet as prepare
from patchpilot.connector.fleet.job import select_hosts
from patchpilot.connector.inventory import load_inventory
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run_result import RebootRecord, RunResult
from patchpilot.errors import Cancelled, ConfigurationError

INI = "[web]\nw2\nw1 patchpilot_reboot=never\n[db]\nd1\n"


def _job(tmp_path: Path, **changes: object) -> FleetJob:
    path = tmp_path / "inv.ini"
    path.write_text(INI)
    fields: dict[str, object] = {
        "inventory": (path,),
        "limit": None,
        "rollout": FleetOptions(),
        "plan_from": None,
        "run_id": "f1",
        "options": RunOptions(),
    }
    fields.update(changes)
    return FleetJob(**fields)  # type: ignore[arg-type]


def test_limit_keeps_the_pattern_order_as_ansible(tmp_path: Path) -> None:
    inventory = load_inventory(_job(tmp_path).inventory[0])
    assert [h.name for h in select_hosts(inventory, "d1,w1")] == ["d1", "w1"]
    assert [h.name for h in select_hosts(inventory, "db:web")] == ["d1", "w2", "w1"]
    assert [h.name for h in select_hosts(inventory, None)] == ["w2", "w1", "d1"]
    with pytest.raises(ConfigurationError, match="matches no host"):
        select_hosts(inventory, "nothing*")


def test_prepare_checks_every_host_and_picks_the_plan_host(tmp_path: Path) -> None:
    prepared = prepare(_job(tmp_path, limit="web", plan_from="d1"))
    assert [h.name for h in prepared.hosts] == ["w2", "w1"]
    assert prepared.options["w1"].reboot == "never"
    assert prepared.plan_host.name == "d1"
    assert prepare(_job(tmp_path)).plan_host.name == "w2"
    with pytest.raises(ConfigurationError, match="no host 'x9'"):
        prepare(_job(tmp_path, plan_from="x9"))


def _finished(target: str) -> RunFinished:
    reboot = RebootRecord(1, "a", "b", "t0", "t1", 3.0)
    result = RunResult(
        f"f1.{target}",
        target,
        "install",
        "success",
        Outcome.SUCCESS,
        0,
        "native",
        "t0",
        "t1",
        reboots=(reboot,),
    )
    return RunFinished(target=target, result=result)


def test_view_prefixes_lines_by_server_and_sums_up() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120)
    view = FleetView(console, ["w1", "d1"])
    view.on_fleet(FleetEvent("batch", batch=1, detail="w1 d1"))
    view.on_fleet(FleetEvent("start", host="w1", batch=1))
    view.on_server(
        RunStarted(target="w1", run_id="f1.w1", mode="install", is_resumed=True, summary={})
    )
    view.on_server(PhaseStarted(target="w1", round=1, phase="await_reboot"))
    view.on_server(_finished("w1"))
    view.on_fleet(FleetEvent("end", host="w1", batch=1, detail="succeeded"))
    view.on_fleet(FleetEvent("stop", batch=1, detail="1/2 failed"))
    outcome = ServerOutcome("w1", 0, False, _finished("w1").result.to_dict())
    result = FleetResult((outcome, None), ("w1", "d1"), stopped_early=True)
    console.print(view.summary(result))
    text = out.getvalue()
    assert "fleet | batch 1: w1 d1" in text
    assert "w1    | run.start f1.w1 (install, resumed)" in text
    assert "w1    | r1 phase.await_reboot" in text
    assert "failure threshold exceeded (1/2 failed)" in text
    assert "not-started" in text and "exit code 86" in text


async def test_a_signal_cancels_the_rollout_with_a_resume_hint() -> None:
    async def forever() -> FleetResult:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(30)
        raise AssertionError("not cancelled")

    with pytest.raises(Cancelled, match="--run-id f7"):
        await _until_signal(forever(), "f7")


def test_view_as_json_lines_has_no_table() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=40)
    view = FleetView(console, ["w1"], log_format="json")
    view.on_fleet(FleetEvent("start", host="w1", batch=1))
    view.on_server(PhaseStarted(target="w1", round=1, phase="launch", detail=":smile: x" * 9))
    view.on_fleet(FleetEvent("stop", batch=1, detail="1/2 failed"))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["kind"] for line in lines] == ["fleet.start", "phase", "fleet.stop"]
    assert lines[0]["target"] == "w1" and lines[2]["detail"] == "1/2 failed"
    assert lines[1]["detail"] == ":smile: x" * 9  # verbatim, one line
