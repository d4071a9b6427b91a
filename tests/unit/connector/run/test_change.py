"""Pure parts of issue 13: hook options, the window's arithmetic, the client's hook runner,
the fleet's window rule, and the refusal of --min-age on apt."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from patchpilot.cli.options import build_options
from patchpilot.client.hooks import HookSpecError, parse_hook_spec, run_hook
from patchpilot.connector.fleet.rollout import FleetOptions, ServerOutcome, run_fleet
from patchpilot.connector.inventory import HostEntry
from patchpilot.connector.maintenance_window import is_closed, parse_deadline, parse_duration
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.change import ChangeSteps
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.hooks import (
    HookEnv,
    HookPoint,
    run_local_hook,
    run_point,
)
from patchpilot.connector.run.own_journal import withheld_rounds
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, open_store
from patchpilot.connector.targets.linux import LinuxBootProbe, LinuxOS
from patchpilot.connector.targets.windows.family import WindowsOS
from patchpilot.errors import ConfigurationError
from patchpilot.launchers.systemd_run import SystemdRunLauncher
from patchpilot.transports.fake import FakeTransport, Reply

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1.5d", 129600)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_deadlines_relative_absolute_and_closed() -> None:
    assert parse_deadline("+2h", now=lambda: NOW) == NOW + timedelta(hours=2)
    assert parse_deadline("2026-11-30T10:00:00Z") == NOW + timedelta(hours=2)
    assert parse_deadline("2026-11-30T11:00:00+01:00") == NOW + timedelta(hours=2)
    with pytest.raises(ValueError, match="neither ISO 8601"):
        parse_deadline("tomorrow")
    deadline = NOW + timedelta(minutes=30)
    assert not is_closed(deadline, 0, now=lambda: NOW)
    assert is_closed(deadline, 1800, now=lambda: NOW)
    assert not is_closed(None, 1e9)


def test_run_options_keep_an_absolute_deadline() -> None:
    options = build_options_of(deadline="+1h", cutoff="15m")
    assert options.deadline_at is not None and options.cutoff_seconds == 900
    again = RunOptions.model_validate_json(options.model_dump_json())
    assert again.deadline == options.deadline  # a resumed run keeps the same instant
    with pytest.raises(ConfigurationError, match=r"--deadline: .*neither ISO 8601"):
        build_options_of(deadline="tomorrow")
    with pytest.raises(ConfigurationError, match=r"--cutoff: .*not a duration"):
        build_options_of(cutoff="soon")


def build_options_of(**values: object) -> RunOptions:
    return build_options(values)


def test_min_age_is_a_usage_error_on_apt_and_a_wua_search_option() -> None:
    for backend in ("apt-python", "apt-cli"):
        with pytest.raises(ConfigurationError, match="apt's metadata has no publication date"):
            build_options_of(min_age=7, backend=backend)
    windows = build_options_of(min_age=7, os="windows")
    assert WindowsOS().job_spec_extra(windows)["windows"]["min_age"] == 7  # type: ignore[index]
    assert "min_age" not in WindowsOS().job_spec_extra(RunOptions(os="windows"))["windows"]  # type: ignore[operator]
    assert WindowsOS().selection_extra(windows) == {}  # WUA keeps its own (windows.min_age)


def test_min_age_reaches_a_linux_client_in_the_selection() -> None:
    """Issue 25: dnf and zypper compare updateinfo's issued dates; with --backend auto the
    client refuses it on apt (64), since only the target knows its package manager."""
    linux = LinuxOS()
    assert linux.selection_extra(build_options_of(min_age=7)) == {
        "min_age": 7,
        "min_age_undated": "exclude",
    }
    include = build_options_of(min_age=0, min_age_undated="include", backend="zypper")
    assert linux.selection_extra(include) == {"min_age": 0, "min_age_undated": "include"}
    assert linux.selection_extra(build_options_of()) == {}


def test_cli_hooks_become_options() -> None:
    options = build_options_of(hook_pre="systemctl stop app", local_hook_post="curl -X POST x")
    assert options.hook_pre == "systemctl stop app" and options.local_hook_post == "curl -X POST x"
    assert build_options_of(require_service=["nginx,app", "db"]).require_service == (
        "nginx",
        "app",
        "db",
    )


def test_client_hook_runs_once_interpreted_with_env_and_bounded_output(tmp_path: Path) -> None:
    spec = parse_hook_spec(
        json.dumps(
            {
                "command": "printf '%s|' \"a b\" '$X;y' \"$PATCHPILOT_HOOK\"; yes | head -c 9000",
                "timeout": 10,
                "env": {"PATCHPILOT_HOOK": "pre"},
            }
        )
    )
    done = run_hook(spec)
    assert done["exit"] == 0 and not done["timed_out"]
    assert len(str(done["output"])) == 4000
    assert run_hook({**spec, "command": "echo start; exec 1>&-; exit 7"})["exit"] == 7
    first = run_hook({**spec, "command": "printf '%s|' \"a b\" '$X;y' \"$PATCHPILOT_HOOK\""})
    assert first["output"] == "a b|$X;y|pre|"


def test_client_hook_timeout_kills_the_group() -> None:
    done = run_hook({"command": "sleep 30 & sleep 30", "timeout": 0.5, "env": {}})
    assert done["timed_out"] and done["exit"] == 124 and float(str(done["seconds"])) < 5


@pytest.mark.parametrize(
    "doc",
    [{"command": ""}, {"command": "x", "timeout": -1}, {"command": "x", "env": {"HOME": "/"}}, []],
)
def test_client_hook_spec_refusals(doc: object) -> None:
    with pytest.raises(HookSpecError):
        parse_hook_spec(json.dumps(doc))


def test_local_hook_env_and_timeout() -> None:
    env = HookEnv("run-1", "web01", "post", 2, ("a", "b"), True)
    line = "$PATCHPILOT_TARGET $PATCHPILOT_ROUND $PATCHPILOT_UPDATES_APPLIED "
    line += "$PATCHPILOT_REBOOT_PENDING"
    done = asyncio.run(run_local_hook(f'echo "{line}"', env, 10))
    assert done.is_ok and done.output == "web01 2 a b 1\n"
    slow = asyncio.run(run_local_hook("sleep 30", env, 0.3))
    assert slow.is_timed_out and not slow.is_ok and slow.exit == 124


def test_fleet_starts_no_server_after_the_window() -> None:
    started: list[str] = []

    async def run_one(host: HostEntry) -> ServerOutcome:
        started.append(host.name)
        await asyncio.sleep(0.3)
        return ServerOutcome(host.name, 0, False)

    hosts = [HostEntry(f"h{i}", "10.0.0.1") for i in range(3)]
    deadline = datetime.now(UTC) + timedelta(seconds=0.15)
    options = FleetOptions(concurrency=1, deadline=deadline)
    result = asyncio.run(run_fleet(hosts, run_one, options))
    assert started == ["h0"] and result.is_window_closed
    assert result.exit_code == 84 and result.totals["not-started"] == 2


def _context(tmp_path: Path, answers: list[int], **options: object) -> tuple[Any, list[str]]:
    """A round context whose target answers each `hook` call with the next exit status."""
    ran: list[str] = []

    def handler(argv: tuple[str, ...], data: bytes | None) -> Reply:
        if "hook" in argv:
            ran.append(argv[-1].rsplit("/", 1)[-1])
            return (0, json.dumps({"exit": answers.pop(0), "output": "o"}))
        return (0, "")

    store = open_store(tmp_path / "state")
    store.create_run(
        RunRow("r1", "t1", "install", "{}", Secret.generate(), "running", None, "t0", None, None)
    )
    ctx = RoundContext(
        transport=FakeTransport(handler),
        launcher=SystemdRunLauncher(),
        os=LinuxOS(),
        probe=LinuxBootProbe(),
        store=store,
        options=RunOptions(**options),  # type: ignore[arg-type]
        run_id="r1",
        target="t1",
        secret=Secret.generate(),
        client="/c.pyz",
        emit=lambda event: None,
    )
    return ctx, ran


def test_a_point_that_succeeded_is_not_run_again(tmp_path: Path) -> None:
    ctx, ran = _context(tmp_path, [0], hook_pre="x")
    steps = ChangeSteps(ctx)
    for _ in range(2):  # the second time as a resumed connector would
        asyncio.run(
            run_point(ctx, HookPoint.PRE, steps.env(HookPoint.PRE, 1, is_reboot_pending=False))
        )
    assert ran == ["hook-pre.json"]


def test_a_withheld_reboot_stays_withheld_when_asked_again(tmp_path: Path) -> None:
    ctx, ran = _context(tmp_path, [7, 0], hook_pre_reboot="drain")
    assert asyncio.run(ChangeSteps(ctx).before_reboot(1)) is False
    again = ChangeSteps(ctx)  # a resumed connector re-reading round 1's final record
    assert asyncio.run(again.before_reboot(1)) is False and ran == ["hook-pre-reboot.json"]
    assert again.failure is not None and again.failure.exit_code == 82
    assert withheld_rounds(ctx.store.records("r1", 0)) == {1: "hook"}
