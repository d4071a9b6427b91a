"""A run in doubt builds its result from the package database read at its end (settlement.py;
fault campaign, seed 21: dpkg killed in a postinst, finished by a later repair)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient, FakeTarget, final, record

from patchpilot.connector.events import Event
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.store import Store
from patchpilot.connector.target_spec import TargetSpec

PLAN = {"lab-a": "2", "lab-slow": "2.0"}


def _round(*results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        record(1, "run.started"),
        record(2, "plan.selected", selected=sorted(PLAN), plan=PLAN),
        final(3, results=list(results), status="partial"),
    ]


FAILED = {"id": "lab-slow", "status": "failed", "version": "2.0", "message": "dpkg killed"}
INSTALLED = {"id": "lab-a", "status": "installed", "version": "2"}


async def _run(target: FakeTarget, store: Store, tmp_path: Path) -> Any:
    events: list[Event] = []
    return await run_target(
        TargetSpec("web1", "web1"),
        RunOptions(run_id="r1", stability_window=0, reboot="never"),
        store=store,
        on_event=events.append,
        transport=target.transport,
        client=FakeClient.make(tmp_path),
    )


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


async def test_a_failed_update_the_server_holds_at_its_planned_version_is_installed(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", {1: _round(INSTALLED, FAILED)}, installed=dict(PLAN))
    result = await _run(target, store, tmp_path)
    assert result.outcome is Outcome.SUCCESS and result.exit_code == 0
    slow = next(u for u in result.updates if u["id"] == "lab-slow")
    assert slow["status"] == "installed"
    assert "round 1 had said failed: dpkg killed" in slow["message"]
    asked = [c for c in target.transport.commands if "installed" in c]
    assert len(asked) == 1 and asked[0][-2:] == ("lab-a", "lab-slow")


async def test_a_failed_update_still_old_on_the_server_stays_failed(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", {1: _round(INSTALLED, FAILED)}, installed={"lab-slow": "1.0"})
    result = await _run(target, store, tmp_path)
    assert result.outcome is Outcome.PARTIAL
    assert {u["id"]: u["status"] for u in result.updates} == {
        "lab-a": "installed",
        "lab-slow": "failed",
    }


async def test_a_run_not_in_doubt_does_not_ask(store: Store, tmp_path: Path) -> None:
    done = {**INSTALLED, "id": "lab-slow", "version": "2.0"}
    target = FakeTarget("r1", {1: _round(INSTALLED, done)})
    result = await _run(target, store, tmp_path)
    assert result.exit_code == 0
    assert not [c for c in target.transport.commands if "installed" in c]


async def test_an_answer_that_cannot_be_read_leaves_the_rounds_word_with_a_warning(
    store: Store, tmp_path: Path
) -> None:
    target = FakeTarget("r1", {1: _round(INSTALLED, FAILED)}, installed=dict(PLAN))
    reply = target.handle

    def refuse(argv: tuple[str, ...], stdin: bytes | None) -> Any:
        return (1, "") if "installed" in argv else reply(argv, stdin)

    target.transport.handler = refuse
    result = await _run(target, store, tmp_path)
    assert result.outcome is Outcome.PARTIAL
    assert any("could not read the installed versions" in w for w in result.warnings)
